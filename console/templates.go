package console

import (
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/hashike/hashike"
)

// parsePages parses each page template (templates/NAME.html, except the layout and the
// partials: _*.html) together with the layout and the partials, as pages[NAME].
func (c *Console) parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	shared := []string{"templates/layout.html"}
	for _, n := range names {
		if strings.HasPrefix(path.Base(n), "_") {
			shared = append(shared, n)
		}
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New(base).Funcs(c.funcs()).Funcs(c.pageFuncs()).ParseFS(templateFS, append(shared, n)...)
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", n, err)
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

// funcs are the templates' helpers.
func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		// asset is an embedded file's URL, with its version for caching.
		"asset": func(name string) string {
			return Prefix + "assets/" + name + "?v=" + c.assets[name].version
		},
		// ts renders a time for the viewer's zone: UTC in the text and on hover, turned into
		// local time by console.js.
		"ts": func(t any) template.HTML {
			var tt time.Time
			switch v := t.(type) {
			case time.Time:
				tt = v
			case *time.Time:
				if v == nil {
					return ""
				}
				tt = *v
			default:
				return ""
			}
			if tt.IsZero() {
				return ""
			}
			u := tt.UTC()
			return template.HTML(fmt.Sprintf(`<time datetime="%s" title="%s">%s</time>`,
				u.Format(time.RFC3339Nano), u.Format("2006-01-02 15:04:05 MST"), u.Format("2006-01-02 15:04:05 UTC")))
		},
		// duration of a run: from start to finish, or to now while it runs.
		"runDuration": func(r *hashike.Run) string {
			if r == nil || r.StartedAt == nil {
				return ""
			}
			end := c.opts.Now()
			if r.FinishedAt != nil {
				end = *r.FinishedAt
			}
			return humanDuration(end.Sub(*r.StartedAt))
		},
		"stateClass": stateClass,
		"terminal":   func(s hashike.RunState) bool { return s.Terminal() },
		"exitCode": func(e *hashike.ExitStatus) string {
			if e == nil || e.ContainerExitCode == nil {
				return ""
			}
			return fmt.Sprint(*e.ContainerExitCode)
		},
		"deref": func(p *int) int {
			if p == nil {
				return 0
			}
			return *p
		},
		"join":      strings.Join,
		"hasPrefix": strings.HasPrefix,
	}
}

// stateClass is a state's CSS class: its colour group.
func stateClass(s hashike.RunState) string {
	switch s {
	case hashike.StateSucceeded:
		return "st-ok"
	case hashike.StateFailed, hashike.StateStartFailed, hashike.StateTimedOut, hashike.StateLost:
		return "st-bad"
	case hashike.StateCanceled:
		return "st-off"
	case hashike.StateRunning, hashike.StatePending, hashike.StateStopping:
		return "st-run"
	case hashike.StateQueued:
		return "st-wait"
	}
	return ""
}

// humanDuration is d rounded for reading: 850ms, 12.3s, 4m05s, 3h02m.
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
