// Package jobfile loads hashike job definition files into a hashike.JobSpec.
//
// A job file is YAML (or JSON, which is read as YAML) with the fields of JobSpec: backend,
// watchContainer, timeout and taskDefinition. taskDefinition is an Amazon ECS task
// definition, written inline as a mapping with ECS's own field names, or the path (relative
// to the job file) of a task definition file such as the ecs-task-def.json that ecspresso
// keeps:
//
//	backend: ecs
//	timeout: 30m
//	taskDefinition: ./ecs-task-def.json
//
// Before parsing, both files go through text/template with ecspresso's functions:
// {{ env "NAME" "default" }} (the default when NAME is unset or empty),
// {{ must_env "NAME" }} (an error when NAME is unset), json_escape, tfstate and tfstatef (a
// Terraform state named by HASHIKE_TFSTATE), ssm and secretsmanager_arn. A literal "{{" is
// written {{"{{"}}. The functions that read AWS arrive as Lookups (LoadWith, Inspect,
// LoadDirWith), so that this package does not depend on the AWS SDK. A file named *.jsonnet
// is evaluated as Jsonnet first (ExtVars are its external variables), as ecspresso does.
//
// GenerateSchema gives the JSON Schema of job files and job definitions, from the same rules
// the decoder follows; docs/schema holds the published ones.
//
// Loading reports every problem at once, each with its field path and its file:line:col:
// YAML syntax, unknown fields (with a suggestion when one is close), repeated keys, values of
// the wrong type, unset must_env variables and whatever JobSpec.Validate finds. ECS fields
// that hashike does not model (hashike.ECSTaskDefinitionExtraFields and the like) are not
// errors: they are kept in the Extra maps for the backend to honour, warn about or refuse.
// File.Annotate gives a backend's findings positions the same way.
//
// A job definition of `hashike server` (job.Definition) is a job file with more top-level
// fields: description, queue, priority, retryStrategy, schedule, expectedDuration,
// notifications and maxPayloadBytes. LoadDefinition reads one with the same guarantees,
// and runs job.Definition.Validate as well. Where the text comes from decides what it may
// use: a definition from the server's job directory (LoadDir) is templated and may name a
// task definition file, as a job file is; one sent through the server's API is neither,
// since it must not read the server's environment or files, so every "{{" in it is an
// error at its position.
package jobfile

//go:generate go run ./internal/genschema ../docs/schema
