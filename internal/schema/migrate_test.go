package schema

import (
	"testing"
	"testing/fstest"
)

func TestLoadInOrderWithoutGaps(t *testing.T) {
	ms, err := Load(fstest.MapFS{
		"m/0002_more.sql": {Data: []byte("B")},
		"m/0001_runs.sql": {Data: []byte("A")},
	}, "m")
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[0].SQL != "A" || ms[1].Name != "0002_more.sql" {
		t.Fatalf("Load = %+v, %v", ms, err)
	}
	if _, err := Load(fstest.MapFS{"m/0001_a.sql": {}, "m/0003_c.sql": {}}, "m"); err == nil {
		t.Fatal("a gap in the versions was accepted")
	}
	if _, err := Load(fstest.MapFS{"m/first.sql": {}}, "m"); err == nil {
		t.Fatal("a file without a version was accepted")
	}
}
