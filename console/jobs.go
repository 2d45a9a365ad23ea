package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/job"
)

// The jobs pages' sizes.
const (
	// jobStripRuns is how many runs a job's success/failure strip shows.
	jobStripRuns = 30
	// jobRecentRuns is how many recent runs a job's page lists.
	jobRecentRuns = 10
	// diffContext is how many unchanged lines a diff shows around a change.
	diffContext = 3
)

// jobRow is one job of the jobs list.
type jobRow struct {
	api.JobView
	Runs []api.RunView
}

func (c *Console) jobsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	jobs, err := c.svc.ListJobs(r.Context())
	if err != nil {
		return err
	}
	rows := make([]jobRow, 0, len(jobs))
	for _, j := range jobs {
		page, err := c.svc.ListRuns(r.Context(), hashike.RunFilter{Job: j.Name, Limit: jobStripRuns})
		if err != nil {
			return err
		}
		rows = append(rows, jobRow{JobView: j, Runs: page.Runs})
	}
	c.render(w, r, s, http.StatusOK, "jobs", map[string]any{"Title": "Jobs", "Jobs": rows})
	return nil
}

// versionParam reads a version from the query: 0 (the latest) when absent.
func versionParam(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, &hashike.Error{Code: hashike.EInvalid, Message: "job version",
			Fields: []hashike.FieldError{{Path: name, Message: fmt.Sprintf("%q is not a version: a whole number from 1", v)}}}
	}
	return n, nil
}

func (c *Console) jobPage(w http.ResponseWriter, r *http.Request, s *session) error {
	name := r.PathValue("name")
	version, err := versionParam(r, "version")
	if err != nil {
		return err
	}
	j, err := c.svc.GetJob(r.Context(), name, version)
	if err != nil {
		return err
	}
	versions, err := c.svc.ListJobVersions(r.Context(), name)
	if err != nil {
		return err
	}
	page, err := c.svc.ListRuns(r.Context(), hashike.RunFilter{Job: name, Limit: jobStripRuns})
	if err != nil {
		return err
	}
	recent := page.Runs[:min(len(page.Runs), jobRecentRuns)]
	data := map[string]any{"Title": "Job " + name, "Job": j, "Versions": versions, "Definition": definitionText(j.Definition),
		"Strip": page.Runs, "Runs": recent, "Latest": version == 0 || (len(versions) > 0 && versions[0].Version == j.Version)}
	if j.Definition != nil && len(j.Definition.Schedule.Expressions) > 0 {
		sv, err := c.svc.GetSchedule(r.Context(), name)
		switch {
		case hashike.ErrorCodeOf(err) == hashike.ENotFound: // the latest version has none
		case err != nil:
			return err
		default:
			row, err := c.scheduleRow(r, sv)
			if err != nil {
				return err
			}
			data["Schedule"] = row
		}
	}
	if len(versions) > 1 {
		data["DiffFrom"], data["DiffTo"] = versions[1].Version, versions[0].Version
	}
	c.render(w, r, s, http.StatusOK, "job", data)
	return nil
}

func (c *Console) jobDiffPage(w http.ResponseWriter, r *http.Request, s *session) error {
	name := r.PathValue("name")
	from, err := versionParam(r, "from")
	if err != nil {
		return err
	}
	to, err := versionParam(r, "to")
	if err != nil {
		return err
	}
	if from == 0 || to == 0 {
		return &hashike.Error{Code: hashike.EInvalid, Message: "diff",
			Fields: []hashike.FieldError{{Path: "from", Message: "choose two versions (from and to)"}}}
	}
	a, err := c.svc.GetJob(r.Context(), name, from)
	if err != nil {
		return err
	}
	b, err := c.svc.GetJob(r.Context(), name, to)
	if err != nil {
		return err
	}
	versions, err := c.svc.ListJobVersions(r.Context(), name)
	if err != nil {
		return err
	}
	lines, changed := lineDiff(definitionText(a.Definition), definitionText(b.Definition), diffContext)
	c.render(w, r, s, http.StatusOK, "jobdiff", map[string]any{"Title": fmt.Sprintf("Job %s: v%d → v%d", name, from, to),
		"Name": name, "From": a, "To": b, "Lines": lines, "Changed": changed, "Versions": versions})
	return nil
}

// secretName matches environment variable names whose values are likely secrets: the
// console shows them masked (the API still returns them to a token allowed to read jobs).
var secretName = regexp.MustCompile(`(?i)(secret|passw|token|api_?key|private|credential|auth)`)

// masked replaces what the console does not show.
const masked = "••••••"

// definitionText is a job definition as the console shows and diffs it: indented JSON with
// what may be a secret masked (notification URLs carry tokens in their path or query:
// Slack's webhooks do; environment values whose names say secret).
func definitionText(def *job.Definition) string {
	if def == nil {
		return ""
	}
	doc, _, err := def.Encode()
	if err != nil {
		return ""
	}
	d, err := job.Decode(hashike.JobVersion{Definition: doc}) // a copy to mask
	if err != nil {
		return ""
	}
	for i := range d.Notifications {
		d.Notifications[i].URL = maskURL(d.Notifications[i].URL)
	}
	for _, td := range []*hashike.TaskDefinition{&d.TaskDefinition, d.Base} {
		if td == nil {
			continue
		}
		for ci := range td.ContainerDefinitions {
			env := td.ContainerDefinitions[ci].Environment
			for k := range env {
				if secretName.MatchString(env[k].Name) && env[k].Value != "" {
					env[k].Value = masked
				}
			}
		}
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return ""
	}
	return string(b) + "\n"
}

// maskURL keeps a URL's scheme and host: its path, query and user may hold a token.
func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return masked
	}
	if u.Path == "" && u.RawQuery == "" && u.User == nil {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/" + masked
}
