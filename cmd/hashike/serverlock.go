package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// lockSQLite makes a server the only one on its SQLite database: it holds an exclusive
// lock (flock) on DB.server-lock for as long as it runs, with its PID and address in the
// file for the message a second server gets. SQLite has no replicas: two servers on one
// file would both dispatch and both run the leader's loops. The operating system drops the
// lock when the process ends, however it ends (kill -9 included), so a crash never leaves
// a stale lock. The other commands (token create, ...) do not take it.
func lockSQLite(db, listen string) (unlock func(), err error) {
	path := db + ".server-lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock the server database: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the server database: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			who := strings.TrimSpace(string(holder))
			if who == "" {
				who = "another process"
			}
			return nil, fmt.Errorf("another hashike server (%s) is running on the SQLite database %s: "+
				"SQLite allows one server; stop that one, or run replicas on PostgreSQL (--db postgres://...)", who, db)
		}
		return nil, fmt.Errorf("lock the server database %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d, listening on %s\n", os.Getpid(), listen)), 0)
	return func() { f.Close() }, nil
}
