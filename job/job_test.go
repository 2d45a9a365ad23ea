package job

import (
	"strings"
	"testing"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/cron"
	"github.com/hashike/hashike/dispatch"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		def  Definition
		want []string // "path: message part"
	}{
		{"valid", Definition{Queue: "reports", Priority: 100, Notifications: []Notification{
			{Type: KindWebhook, URL: "https://x.example/h", Secret: "K", Events: []string{EventFailure}},
			{Type: KindSlack, URL: "https://hooks.slack.com/services/T/B/X"}}}, nil},
		{"bad queue and priority", Definition{Queue: "a b", Priority: -101},
			[]string{"queue: \"a b\" is not a queue name", "priority: -101 is out of range"}},
		{"retry strategy", Definition{RetryStrategy: dispatch.RetryStrategy{Attempts: 11}},
			[]string{"retryStrategy.attempts:"}},
		{"schedule", Definition{Schedule: cron.Spec{Expressions: []cron.Expr{{Cron: "0 25 * * *"}}}},
			[]string{"schedule.expressions[0].cron: ", "hour"}},
		{"notifications", Definition{Notifications: []Notification{
			{Type: "email", URL: "ftp://x"},
			{Type: KindSlack, URL: "https://hooks.slack.com/x", Secret: "K", Events: []string{"done"}}}},
			[]string{"notifications[0].type:", "notifications[0].url:", "notifications[1].secret:", "notifications[1].events[0]:"}},
		{"negative payload limit", Definition{MaxPayloadBytes: -1}, []string{"maxPayloadBytes:"}},
		{"payload limit over what a reference carries", Definition{MaxPayloadBytes: MaxPayloadByReference + 1}, []string{"maxPayloadBytes: 67108865 is above 67108864"}},
		{"environment and command strings execve refuses", Definition{JobSpec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{
			ContainerDefinitions: []hashike.ContainerDefinition{{
				Environment: []hashike.KeyValuePair{{Name: "OK", Value: strings.Repeat("x", 131072-4)}, {Name: "BIG", Value: strings.Repeat("x", 131072-4)}},
				Command:     []string{strings.Repeat("y", 131071), strings.Repeat("y", 131072)}}}}}},
			[]string{"taskDefinition.containerDefinitions[0].environment[1].value: makes an environment string of 131073 bytes",
				"taskDefinition.containerDefinitions[0].command[1]: is 131072 bytes"}},
	}
	for _, c := range cases {
		var got []string
		for _, e := range c.def.Validate() {
			got = append(got, e.Path+": "+e.Message)
		}
		joined := strings.Join(got, "\n")
		if len(c.want) == 0 && len(got) > 0 {
			t.Errorf("%s: unexpected problems:\n%s", c.name, joined)
		}
		for _, w := range c.want {
			if !strings.Contains(joined, w) {
				t.Errorf("%s: no problem %q in:\n%s", c.name, w, joined)
			}
		}
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	d := Definition{JobSpec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "f",
		ContainerDefinitions: []hashike.ContainerDefinition{{Name: "app", Image: "img"}}}},
		Queue: "q", RetryStrategy: dispatch.RetryStrategy{Attempts: 3}}
	doc, digest, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), `"taskDefinition"`) || strings.Contains(string(doc), `"JobSpec"`) {
		t.Errorf("the JobSpec's fields are not at the top level: %s", doc)
	}
	back, err := Decode(hashike.JobVersion{Name: "f", Version: 1, Definition: doc})
	if err != nil {
		t.Fatal(err)
	}
	doc2, digest2, _ := back.Encode()
	if string(doc2) != string(doc) || digest2 != digest {
		t.Errorf("round trip changed the definition:\n%s\n%s", doc, doc2)
	}
	other := d
	other.Priority = 1
	if _, d3, _ := other.Encode(); d3 == digest {
		t.Error("a changed definition has the same digest")
	}
}

func TestNotificationWants(t *testing.T) {
	all := Notification{}
	some := Notification{Events: []string{EventRecovery}}
	if !all.Wants(EventOverdue) || some.Wants(EventFailure) || !some.Wants(EventRecovery) {
		t.Error("Wants")
	}
}

// TestExecStringsAtTheLimit: strings of exactly MAX_ARG_STRLEN (their NUL included) pass.
func TestExecStringsAtTheLimit(t *testing.T) {
	d := Definition{JobSpec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{ContainerDefinitions: []hashike.ContainerDefinition{{
		Environment: []hashike.KeyValuePair{{Name: "OK", Value: strings.Repeat("x", 131072-4)}},
		EntryPoint:  []string{strings.Repeat("y", 131071)}}}}}}
	if errs := d.Validate(); len(errs) > 0 {
		t.Errorf("problems at the limit: %v", errs)
	}
}
