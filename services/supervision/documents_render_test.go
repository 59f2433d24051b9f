package supervision

import (
	"regexp"
	"strings"
	"testing"
)

// TestDocumentPlaceholders: every {Name} in every document, in each of its
// variants, is one docData fills; a misspelt placeholder would otherwise
// reach the printed notice as is.
func TestDocumentPlaceholders(t *testing.T) {
	left := regexp.MustCompile(`\{[A-Za-z]+\}`)
	for name := range docBodies {
		for _, dec := range []string{"diverted", "declined", "forwarded", "other"} {
			for _, optional := range []string{"", "x"} {
				d := &docData{Title: "t", Issuer: "i", County: "c", CaseID: "id", Year: "2026", Date: "d",
					AssignedOn: "a", AcceptedOn: "b", HandlingDue: optional, HandlingDays: 60, ExtensionDays: 30,
					ExtensionReason: "r", Outcome: "o", Opinion: "p", Decision: dec, Body: optional,
					Guidance: optional, Destination: "dst", Article: optional, Reason: "why"}
				if got := left.FindAllString(d.render(name), -1); got != nil {
					t.Errorf("%s (%s, optional %q) leaves %v", name, dec, optional, got)
				}
			}
		}
	}
	// A value is not itself expanded.
	d := &docData{Opinion: "{CaseID}", CaseID: "c1"}
	if page := d.render("opinion"); !strings.Contains(page, "<pre>{CaseID}</pre>") {
		t.Errorf("a placeholder typed into the opinion was expanded:\n%s", page)
	}
}

// TestDocumentEscaping: staff-typed text is escaped as html/template
// escapes HTML text (the documents were rendered by it before).
func TestDocumentEscaping(t *testing.T) {
	got := htmlText("<a href=\"x\">'&'+\x00")
	want := "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&#43;\uFFFD"
	if got != want {
		t.Errorf("htmlText = %q, want %q", got, want)
	}
}
