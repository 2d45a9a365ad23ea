package autoscale

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestBinpack(t *testing.T) {
	// a has the least CPU left, b the least memory; c fits nothing.
	insts := []Remaining{{CPU: 1024, MemoryMiB: 8192}, {CPU: 3072, MemoryMiB: 2048}, {CPU: 256, MemoryMiB: 256}}
	for _, c := range []struct {
		name       string
		insts      []Remaining
		cpu, mem   int
		field      BinpackField
		want       int
		wantReason string
	}{
		{"least CPU", insts, 512, 1024, BinpackCPU, 0, ""},
		{"least memory", insts, 512, 1024, BinpackMemory, 1, ""},
		{"memory ties go to the least CPU", []Remaining{{4096, 2048}, {2048, 2048}}, 512, 512, BinpackMemory, 1, ""},
		{"full ties go to the first", []Remaining{{2048, 2048}, {2048, 2048}}, 512, 512, BinpackCPU, 0, ""},
		{"only one fits both", insts, 2048, 1024, BinpackCPU, 1, ""},
		{"no instance has the CPU", insts, 4096, 512, BinpackCPU, -1, ReasonResourceCPU},
		{"one has the CPU, not the memory", insts, 2048, 4096, BinpackMemory, -1, ReasonResourceMemory},
		{"no instance", nil, 512, 512, BinpackCPU, -1, ""},
	} {
		got, reason := Binpack(c.insts, c.cpu, c.mem, c.field)
		if got != c.want || reason != c.wantReason {
			t.Errorf("%s: %d %q, want %d %q", c.name, got, reason, c.want, c.wantReason)
		}
	}
}

func TestPlace(t *testing.T) {
	insts := []Remaining{{CPU: 2048, MemoryMiB: 4096}, {CPU: 1024, MemoryMiB: 8192}, {CPU: 4096, MemoryMiB: 512}}
	before := slices.Clone(insts)

	// Ten tasks of 512 x 1024 on memory binpack: the instance with the least memory that
	// fits each, as it fills; the third (512 MiB) never fits.
	placed, failures, err := Place(insts, 512, 1024, 10, BinpackMemory)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 0, 0, 0, 1, 1}; !slices.Equal(placed, want) {
		t.Errorf("placed %v, want %v", placed, want)
	}
	// The four left are reported once per instance: 0 and 1 are out of CPU, 2 has the CPU
	// but not the memory.
	want := []PlacementFailure{{0, ReasonResourceCPU}, {1, ReasonResourceCPU}, {2, ReasonResourceMemory}}
	if !reflect.DeepEqual(failures, want) {
		t.Errorf("failures %v, want %v", failures, want)
	}
	if !slices.Equal(insts, before) {
		t.Errorf("Place changed its argument: %v", insts)
	}

	// On CPU, the same tasks go to the instance with the least CPU first.
	placed, failures, err = Place(insts, 512, 1024, 3, BinpackCPU)
	if err != nil || !slices.Equal(placed, []int{1, 1, 0}) || failures != nil {
		t.Errorf("cpu: %v %v %v", placed, failures, err)
	}

	for _, c := range []struct {
		name  string
		insts []Remaining
		count int
		field BinpackField
	}{
		{"count 0", insts, 0, BinpackCPU},
		{"count 11", insts, MaxRunTaskCount + 1, BinpackCPU},
		{"unknown field", insts, 1, "spread"},
		{"no instance", nil, 1, BinpackCPU},
	} {
		if _, _, err := Place(c.insts, 512, 512, c.count, c.field); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if _, _, err := Place(nil, 512, 512, 1, BinpackCPU); !errors.Is(err, ErrNoContainerInstances) {
		t.Errorf("no instance: %v", err)
	}
}
