package process

import (
	"os/exec"
	"testing"
)

func TestSelfIsAlive(t *testing.T) {
	me := Self()
	if me.Start == "" {
		t.Fatal("no start time for this process")
	}
	if !Alive(me) {
		t.Fatal("this process is not alive")
	}
}

func TestDeadAndReusedPIDs(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	o := Self()
	o.PID = cmd.Process.Pid
	o.Start = startTime(o.PID)
	if !Alive(o) {
		t.Fatal("running child not alive")
	}
	reused := o
	reused.Start = "1"
	if Alive(reused) {
		t.Fatal("a PID with another start time counted as the owner")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if Alive(o) {
		t.Fatal("killed child still alive")
	}
}

func TestOtherHostCountsAsAlive(t *testing.T) {
	o := Self()
	o.Host = "elsewhere.invalid"
	o.PID = 1 << 30
	if !Alive(o) {
		t.Fatal("an owner on another host must count as alive: it cannot be checked")
	}
}
