package guest

import "strings"

// Read scripts print their findings in sections, each started by a line
// "@@hipchatdc-RECIPE@@ NAME". Several recipes' read scripts run as one command (a refresh costs
// one SSH command per guest), so a marker of any recipe ends the section before it.
const markerPrefix = "@@hipchatdc-"

// SectionMarker is the line that starts section name of recipe.
func SectionMarker(recipe, name string) string {
	return markerPrefix + recipe + "@@ " + name
}

// EchoSection is the shell command that prints SectionMarker.
func EchoSection(recipe, name string) string {
	return "echo '" + SectionMarker(recipe, name) + "'\n"
}

// Sections splits read output into recipe's sections by name, each the lines between its marker
// and the next marker of any recipe, joined with "\n". Other recipes' sections are ignored.
func Sections(out, recipe string) map[string]string {
	own := markerPrefix + recipe + "@@ "
	m := map[string]string{}
	name := ""
	var body []string
	flush := func() {
		if name != "" {
			m[name] = strings.Join(body, "\n")
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, own); ok {
			flush()
			name, body = rest, nil
			continue
		}
		if strings.HasPrefix(line, markerPrefix) {
			flush()
			name, body = "", nil
			continue
		}
		body = append(body, line)
	}
	flush()
	return m
}
