package main

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/spf13/pflag"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/awsfuncs"
	"github.com/hashike/hashike/jobfile"
)

// jsonnetFlags are the flags that give a Jsonnet job file its external variables, as
// jsonnet's and ecspresso's.
type jsonnetFlags struct{ extStr, extCode []string }

func (f *jsonnetFlags) add(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.extStr, "ext-str", nil, "Jsonnet: set the external variable NAME to the string VALUE (NAME=VALUE); repeatable")
	fl.StringArrayVar(&f.extCode, "ext-code", nil, "Jsonnet: set the external variable NAME to the Jsonnet code CODE (NAME=CODE); repeatable")
}

func (f jsonnetFlags) vars() (jobfile.ExtVars, error) {
	v, err := jobfile.ParseExtVars(f.extStr, f.extCode)
	if err != nil {
		return v, &hashike.Error{Code: hashike.EInvalid, Message: "invalid flags", Err: err}
	}
	return v, nil
}

// jobfileOptions are what a job file reads of this machine: the environment, Jsonnet's
// external variables, and AWS for ssm, secretsmanager_arn and tfstate in S3. The AWS
// configuration is loaded at the first lookup, so that a file without them needs none;
// offline, lookups render placeholders (hashike validate without --check-aws).
func (a *app) jobfileOptions(ctx context.Context, f jsonnetFlags, offline bool) (jobfile.Options, error) {
	ext, err := f.vars()
	if err != nil {
		return jobfile.Options{}, err
	}
	opts := jobfile.Options{LookupEnv: a.lookupEnv, ExtVars: ext}
	if offline {
		opts.Lookups = jobfile.Lookups{Offline: true}
		return opts, nil
	}
	var (
		once    sync.Once
		lookups jobfile.Lookups
		cfgErr  error
	)
	get := func() (jobfile.Lookups, error) {
		once.Do(func() {
			cfg, err := a.awsConfig(ctx)
			if err != nil {
				cfgErr = err
				return
			}
			lookups = awsfuncs.Lookups(ctx, awsfuncs.Clients{
				SSM:            ssm.NewFromConfig(cfg),
				SecretsManager: secretsmanager.NewFromConfig(cfg),
				S3:             s3.NewFromConfig(cfg),
			})
		})
		return lookups, cfgErr
	}
	opts.Lookups = jobfile.Lookups{
		SSM: func(name string) (string, error) {
			l, err := get()
			if err != nil {
				return "", err
			}
			return l.SSM(name)
		},
		SecretARN: func(name string) (string, error) {
			l, err := get()
			if err != nil {
				return "", err
			}
			return l.SecretARN(name)
		},
		ReadS3: func(bucket, key string) ([]byte, error) {
			l, err := get()
			if err != nil {
				return nil, err
			}
			return l.ReadS3(bucket, key)
		},
	}
	return opts, nil
}

// loadJobDir reads the server's job directory as hashike run reads a job file: with the AWS
// lookups (the configuration loaded at the first call), *.jsonnet files and their external
// variables f (hashike server --ext-str, --ext-code).
func (a *app) loadJobDir(ctx context.Context, dir string, f jsonnetFlags) (map[string]*jobfile.Definition, error) {
	opts, err := a.jobfileOptions(ctx, f, false)
	if err != nil {
		return nil, err
	}
	return jobfile.LoadDirWith(dir, opts)
}
