package main

import (
	"context"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/objectfs"
	"github.com/hashike/hashike/objects3"
)

// serverObjects opens the server's object store: S3 when the config names a bucket, else the
// local filesystem (objectStore.dir, default objects/ in the state directory). The local one
// gives no URLs: runs on ECS then get no payload by reference and no result URL.
func (a *app) serverObjects(ctx context.Context, c ObjectStoreConfig) (hashike.ObjectStore, hashike.ObjectURLs, error) {
	if a.objectStore != nil {
		s, u := a.objectStore()
		return s, u, nil
	}
	if c.S3.Bucket != "" {
		cfg, err := awsConfig(ctx)
		if err != nil {
			return nil, nil, err
		}
		if c.S3.Region != "" {
			cfg = cfg.Copy()
			cfg.Region = c.S3.Region
		}
		s, err := newS3Objects(cfg, c.S3)
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	}
	dir := c.Dir
	if dir == "" {
		db := a.serverDatabase()
		if isPostgres(db) {
			db = a.database()
		}
		dir = filepath.Join(filepath.Dir(db), "objects")
	}
	s, err := objectfs.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	return s, nil, nil
}

func newS3Objects(cfg aws.Config, c S3Config) (*objects3.Store, error) {
	return objects3.New(cfg, objects3.Config{Bucket: c.Bucket, Prefix: c.Prefix, PathStyle: c.PathStyle, PartSize: c.PartSize})
}
