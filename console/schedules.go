package console

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/cron"
)

// The schedules page's sizes.
const (
	// scheduleFires is how many next fire times a schedule shows.
	scheduleFires = 5
	// scheduleRuns is how many of a schedule's last runs it shows.
	scheduleRuns = 10
)

// scheduleRow is one schedule as the page shows it.
type scheduleRow struct {
	api.ScheduleView
	// Fires are the next fires, each in its expression's own time zone; when the schedule is
	// suspended, those it would make once resumed.
	Fires []fireView
	// WindowUntil is when the suspend window holding now closes (nil: none holds now).
	WindowUntil *time.Time
	// Invalid says why the schedule's fires could not be computed ("" when they were).
	Invalid string
	Runs    []api.RunView
}

// fireView is a fire time in its expression's zone.
type fireView struct {
	At   time.Time
	Expr string
}

func (c *Console) schedulesPage(w http.ResponseWriter, r *http.Request, s *session) error {
	views, err := c.svc.ListSchedules(r.Context())
	if err != nil {
		return err
	}
	rows := make([]scheduleRow, 0, len(views))
	for _, v := range views {
		row, err := c.scheduleRow(r, v)
		if err != nil {
			return err
		}
		rows = append(rows, row)
	}
	c.render(w, r, s, http.StatusOK, "schedules", map[string]any{"Title": "Schedules", "Schedules": rows, "FireCount": scheduleFires})
	return nil
}

// scheduleRow computes a schedule's next fires in its own zones (the cron package, at the
// console's now) and reads its last runs.
func (c *Console) scheduleRow(r *http.Request, v api.ScheduleView) (scheduleRow, error) {
	row := scheduleRow{ScheduleView: v}
	now := c.opts.Now()
	spec := v.Schedule
	spec.Suspended = false // a suspended schedule shows what it would do once resumed
	plan, err := cron.Compile(spec)
	if err != nil {
		row.Invalid = err.Error()
	} else {
		for _, f := range plan.NextFires(now, scheduleFires) {
			row.Fires = append(row.Fires, fireView{At: f.At, Expr: spec.Expressions[f.Expr].Cron})
		}
		if until, ok := plan.InWindow(now); ok {
			row.WindowUntil = &until
		}
	}
	page, err := c.svc.ListRuns(r.Context(), hashike.RunFilter{Job: v.Job, Limit: scheduleRuns})
	if err != nil {
		return row, err
	}
	row.Runs = page.Runs
	return row, nil
}

// zoned renders a time in its own location (a schedule's zone), with UTC on hover; the
// console's script leaves it as it is (data-local).
func zoned(t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s" data-local="zone">%s</time>`,
		t.UTC().Format(time.RFC3339), t.UTC().Format("2006-01-02 15:04:05 UTC"),
		template.HTMLEscapeString(t.Format("Mon 2006-01-02 15:04 MST"))))
}

// zoneName is an expression's or a window's zone as the page names it.
func zoneName(tz string) string {
	if tz == "" {
		return "UTC"
	}
	return tz
}

func (c *Console) suspendSchedule(w http.ResponseWriter, r *http.Request, _ *session) error {
	return c.setSuspended(w, r, true)
}

func (c *Console) resumeSchedule(w http.ResponseWriter, r *http.Request, _ *session) error {
	return c.setSuspended(w, r, false)
}

func (c *Console) setSuspended(w http.ResponseWriter, r *http.Request, suspended bool) error {
	if _, err := c.svc.SetSuspended(r.Context(), r.PathValue("job"), suspended); err != nil {
		return err
	}
	http.Redirect(w, r, backTo(r, Prefix+"schedules"), http.StatusSeeOther)
	return nil
}

func (c *Console) triggerSchedule(w http.ResponseWriter, r *http.Request, _ *session) error {
	run, err := c.svc.Trigger(r.Context(), r.PathValue("job"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, Prefix+"runs/"+url.PathEscape(run.ID), http.StatusSeeOther)
	return nil
}

// backTo is the form's "back" field when it is a console page, else def: where an action
// returns to (the page it was taken on).
func backTo(r *http.Request, def string) string {
	b := r.PostFormValue("back")
	if u, err := url.Parse(b); err == nil && b != "" && u.Scheme == "" && u.Host == "" && len(b) <= 300 &&
		len(b) > len(Prefix) && b[:len(Prefix)] == Prefix && b[len(Prefix)] != '/' && b[len(Prefix)] != '\\' {
		return b
	}
	return def
}
