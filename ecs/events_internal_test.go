package ecs

import (
	"encoding/json"
	"os"
	"testing"
)

// FuzzParseEvent: any message body either parses into an event with a task to order by, or
// is an error; nothing panics.
func FuzzParseEvent(f *testing.F) {
	raw, err := os.ReadFile("testdata/wire/ReceiveMessage.response.json")
	if err != nil {
		f.Fatal(err)
	}
	var resp struct{ Messages []struct{ Body string } }
	if err := json.Unmarshal(raw, &resp); err != nil {
		f.Fatal(err)
	}
	for _, m := range resp.Messages {
		f.Add(m.Body)
	}
	f.Add(`{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":null}`)
	f.Add(`{"source":"aws.ecs","detail-type":"ECS Task State Change","detail":{"taskArn":"a","clusterArn":"c","lastStatus":"RUNNING","version":-1}}`)
	f.Fuzz(func(t *testing.T, body string) {
		ev, err := parseEvent(body)
		if err != nil {
			return
		}
		task := ev.Detail.task()
		if task.Version <= 0 || task.TaskArn == nil || task.ClusterArn == nil || task.LastStatus == nil {
			t.Fatalf("parsed %q into %+v", body, task)
		}
		_ = taskStatus(task)
	})
}
