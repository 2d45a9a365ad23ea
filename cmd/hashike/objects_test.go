package main

import (
	"path/filepath"
	"testing"
)

// TestObjectStoreLocation: the object store is where --objects, HASHIKE_OBJECTS or the
// config's objectStore say; by default objects/ beside the server's SQLite database, or in the
// state directory when the database is PostgreSQL (whose connection string is no path).
func TestObjectStoreLocation(t *testing.T) {
	state := t.TempDir()
	for _, c := range []struct {
		name    string
		flag    string
		env     map[string]string
		conf    ObjectStoreConfig
		dir     string
		bucket  string
		prefix  string
		pathStr bool
	}{
		{name: "sqlite default", env: map[string]string{"XDG_STATE_HOME": state, "HASHIKE_DB": "/var/lib/h/server.db"}, dir: "/var/lib/h/objects"},
		{name: "postgres URL", env: map[string]string{"XDG_STATE_HOME": state, "HASHIKE_DB": "postgres://u@db/hashike"}, dir: filepath.Join(state, "hashike", "objects")},
		{name: "postgres key=value", env: map[string]string{"XDG_STATE_HOME": state, "HASHIKE_DB": "host=/tmp/pg dbname=hashike"}, dir: filepath.Join(state, "hashike", "objects")},
		{name: "config dir", env: map[string]string{"XDG_STATE_HOME": state}, conf: ObjectStoreConfig{Dir: "/srv/objects"}, dir: "/srv/objects"},
		{name: "flag over config", flag: "s3://bucket/some/prefix", conf: ObjectStoreConfig{Dir: "/srv/objects", S3: S3Config{PathStyle: true}},
			bucket: "bucket", prefix: "some/prefix", pathStr: true},
		{name: "env dir over config s3", env: map[string]string{"HASHIKE_OBJECTS": "/data/o"}, conf: ObjectStoreConfig{S3: S3Config{Bucket: "b"}}, dir: "/data/o"},
	} {
		a := &app{lookupEnv: env(c.env), objectsPath: c.flag}
		got := a.objectStoreConfig(c.conf)
		dir := got.Dir
		if dir == "" && got.S3.Bucket == "" {
			dir = a.defaultObjectsDir()
		}
		if dir != c.dir || got.S3.Bucket != c.bucket || got.S3.Prefix != c.prefix || got.S3.PathStyle != c.pathStr {
			t.Errorf("%s: dir %q, s3 %+v; want dir %q, bucket %q, prefix %q, pathStyle %t", c.name, dir, got.S3, c.dir, c.bucket, c.prefix, c.pathStr)
		}
	}
}
