// Package job is what `hashike server` knows of a registered job: a job definition is a job
// file of `hashike run` (backend, taskDefinition, watchContainer, timeout, ecs) plus where
// and how its runs are queued, retried, scheduled and reported. It is pure: it imports the
// domain and its pure packages only.
package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/cron"
	"github.com/hashike/hashike/dispatch"
)

// DefaultQueue is the queue of a job that names none.
const DefaultQueue = "default"

// PayloadLimit is the largest payload a run can be given, in bytes. A payload reaches the
// containers as the environment variable HASHIKE_PAYLOAD, and Linux will not start a program
// whose environment holds a string longer than MAX_ARG_STRLEN (131072 bytes, the name, the
// "=" and the terminating NUL included): the container would exit at once, and the run would
// read as the job's failure.
const PayloadLimit = maxArgStrlen - len("HASHIKE_PAYLOAD=") - 1

// MaxPayloadByReference is the largest payload a server with an object store accepts: a
// payload over its inline threshold is stored as an object and reaches the containers as a
// file or a URL, not as a variable. It is a payload still, not a data transfer.
const MaxPayloadByReference = 64 << 20

// maxArgStrlen is Linux's MAX_ARG_STRLEN: the longest argument or environment string (with
// its NUL) that execve accepts.
const maxArgStrlen = 131072

// Definition is a job definition. The JobSpec's fields are at the top level, as in a job file.
type Definition struct {
	hashike.JobSpec
	// Description is for people.
	Description string `json:"description,omitempty"`
	// Queue is where runs wait (default "default"); Priority orders them there (-100..100).
	Queue    string `json:"queue,omitempty"`
	Priority int    `json:"priority,omitempty"`
	// RetryStrategy is AWS Batch's: attempts, evaluateOnExit, plus backoff and
	// infrastructureAttempts. The JobSpec's timeout applies to each attempt.
	RetryStrategy dispatch.RetryStrategy `json:"retryStrategy,omitzero"`
	// Schedule fires runs from cron expressions (kuroko2's model).
	Schedule cron.Spec `json:"schedule,omitzero"`
	// ExpectedDuration: a run still active this long after it started sends an "overdue"
	// notification (once). 0: never.
	ExpectedDuration hashike.Duration `json:"expectedDuration,omitempty"`
	// Notifications are where the job's events go.
	Notifications []Notification `json:"notifications,omitempty"`
	// MaxPayloadBytes bounds an enqueue's payload for this job; 0 means the server's limit,
	// which also caps it. At most MaxPayloadByReference (64 MiB).
	MaxPayloadBytes int `json:"maxPayloadBytes,omitempty"`
	// Retention is how long this job's runs, their logs in the database and their archived
	// logs are kept after they ended; each field left out is the server's (retention in its
	// config file), and "0s" keeps forever.
	Retention hashike.Retention `json:"retention,omitzero"`
}

// Events a notification can be sent on.
const (
	// EventFailure: a run failed for good (its retries are exhausted or it was not retried).
	EventFailure = "failure"
	// EventRecovery: a run succeeded after the job's previous final outcome was a failure.
	EventRecovery = "recovery"
	// EventOverdue: a run has been active longer than the job's expectedDuration.
	EventOverdue = "overdue"
)

// Kinds of notification endpoints.
const (
	// KindWebhook: a JSON POST signed with HMAC-SHA256 when a secret is named.
	KindWebhook = "webhook"
	// KindSlack: a Slack incoming webhook.
	KindSlack = "slack"
)

// Notification is one endpoint and the events it gets.
type Notification struct {
	// Type is "webhook" or "slack".
	Type string `json:"type"`
	URL  string `json:"url"`
	// Secret names the server secret (HASHIKE_SECRET_<name> or the secrets file) whose value
	// signs a webhook's body; empty sends it unsigned.
	Secret string `json:"secret,omitempty"`
	// Events lists the events sent; empty means all three.
	Events []string `json:"events,omitempty"`
}

// Wants reports whether n is sent on event.
func (n Notification) Wants(event string) bool {
	return len(n.Events) == 0 || slices.Contains(n.Events, event)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$`)

// ValidName reports whether name can name a job: what ECS accepts as a task definition family
// (letters, digits, '-' and '_', up to 255), so that a job's name can be its family.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// QueueName returns the queue the job's runs go to.
func (d *Definition) QueueName() string {
	if d.Queue == "" {
		return DefaultQueue
	}
	return d.Queue
}

// Validate reports every problem of the definition beyond its JobSpec (which
// JobSpec.Validate checks), with paths in the file's names.
func (d *Definition) Validate() []hashike.FieldError {
	var errs []hashike.FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, hashike.FieldError{Path: path, Message: fmt.Sprintf(format, args...), Severity: hashike.SeverityError})
	}
	if d.Queue != "" && !dispatch.ValidQueueName(d.Queue) {
		add("queue", "%q is not a queue name: 1 to %d letters, digits, '-' or '_'", d.Queue, dispatch.MaxQueueNameLen)
	}
	if d.Priority < dispatch.MinPriority || d.Priority > dispatch.MaxPriority {
		add("priority", "%d is out of range %d..%d", d.Priority, dispatch.MinPriority, dispatch.MaxPriority)
	}
	errs = append(errs, d.RetryStrategy.Validate()...) // its paths start with retryStrategy
	errs = append(errs, prefixed("schedule", d.Schedule.Validate())...)
	if d.MaxPayloadBytes < 0 {
		add("maxPayloadBytes", "must not be negative")
	}
	// A longer string makes execve fail in the container, which then exits at once: the run
	// would read as the program's failure.
	for i, c := range d.TaskDefinition.ContainerDefinitions {
		p := fmt.Sprintf("taskDefinition.containerDefinitions[%d]", i)
		for j, e := range c.Environment {
			if n := len(e.Name) + 1 + len(e.Value) + 1; n > maxArgStrlen {
				add(fmt.Sprintf("%s.environment[%d].value", p, j), "makes an environment string of %d bytes; Linux refuses one over %d (MAX_ARG_STRLEN): pass the data by file or reference", n, maxArgStrlen)
			}
		}
		for field, args := range map[string][]string{"command": c.Command, "entryPoint": c.EntryPoint} {
			for j, a := range args {
				if len(a)+1 > maxArgStrlen {
					add(fmt.Sprintf("%s.%s[%d]", p, field, j), "is %d bytes; Linux refuses an argument over %d (MAX_ARG_STRLEN)", len(a), maxArgStrlen-1)
				}
			}
		}
	}
	if d.MaxPayloadBytes > MaxPayloadByReference {
		add("maxPayloadBytes", "%d is above %d, the most a payload can be (a payload over the server's inline threshold is passed by reference through its object store)",
			d.MaxPayloadBytes, MaxPayloadByReference)
	}
	for i, n := range d.Notifications {
		p := fmt.Sprintf("notifications[%d]", i)
		if n.Type != KindWebhook && n.Type != KindSlack {
			add(p+".type", "%q is not a notification type: webhook or slack", n.Type)
		}
		if u, err := url.Parse(n.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add(p+".url", "%q is not an http or https URL", n.URL)
		}
		if n.Secret != "" && n.Type == KindSlack {
			add(p+".secret", "Slack incoming webhooks are not signed: the URL is the secret")
		}
		for j, e := range n.Events {
			if e != EventFailure && e != EventRecovery && e != EventOverdue {
				add(fmt.Sprintf("%s.events[%d]", p, j), "%q is not an event: failure, recovery or overdue", e)
			}
		}
	}
	return errs
}

func prefixed(prefix string, errs []hashike.FieldError) []hashike.FieldError {
	for i := range errs {
		if errs[i].Path == "" {
			errs[i].Path = prefix
		} else if strings.HasPrefix(errs[i].Path, "[") {
			errs[i].Path = prefix + errs[i].Path
		} else {
			errs[i].Path = prefix + "." + errs[i].Path
		}
		if errs[i].Severity == "" {
			errs[i].Severity = hashike.SeverityError
		}
	}
	return errs
}

// Encode returns the definition's JSON document and its digest, as a JobVersion holds them.
func (d *Definition) Encode() (doc json.RawMessage, digest string, err error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, "", fmt.Errorf("encode job definition: %w", err)
	}
	sum := sha256.Sum256(b)
	return b, "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Decode reads a JobVersion's definition back.
func Decode(v hashike.JobVersion) (*Definition, error) {
	var d Definition
	if err := json.Unmarshal(v.Definition, &d); err != nil {
		return nil, fmt.Errorf("job %s version %d: %w", v.Name, v.Version, err)
	}
	return &d, nil
}
