package routing

import (
	"strings"

	"xinfang.io/county"
)

// CategorySource says how a petition's category was decided.
type CategorySource string

const (
	// SourceHint: the category intake registered (a clerk's or the
	// petitioner's choice) is kept.
	SourceHint CategorySource = "hint"
	// SourceAccusationWords: no hint, and the text uses a word that makes
	// it an accusation (检举, 举报, 控告, 揭发).
	SourceAccusationWords CategorySource = "accusation-words"
	// SourceRule: no hint, and a county rule with keywords and exactly one
	// category matched the text; the rule's category is taken.
	SourceRule CategorySource = "rule"
	// SourceSuggestionWords: no hint, no rule, and the text proposes
	// rather than demands (建议, 意见建议, …).
	SourceSuggestionWords CategorySource = "suggestion-words"
	// SourceDefault: nothing applied; 申诉求决 (complaint) is the default.
	SourceDefault CategorySource = "default"
	// SourcePrevious: a re-routing keeps the category of the first routing.
	SourcePrevious CategorySource = "previous"
)

// accusationWords make an unhinted petition an accusation before any rule
// is consulted: the accusation guard must err on the side of protecting the
// petitioner (Art. 30(3), 46(5)).
var accusationWords = []string{"检举", "举报", "控告", "揭发"}

// suggestionWords and demandWords decide suggestion vs complaint when no
// rule did: a text that proposes and does not demand is a suggestion.
var (
	suggestionWords = []string{"建议", "意见建议", "献计献策", "提议", "倡议"}
	demandWords     = []string{"要求", "请求", "投诉", "讨要", "赔偿", "补偿", "退还", "解决"}
)

// classify decides the category of a petition. In order:
//  1. the category hint registered by intake, when given;
//  2. explicit accusation words → accusation;
//  3. the first county rule with positive keywords (any/all) and exactly
//     one category whose keyword conditions hold for the text;
//  4. suggestion words with no demand → suggestion;
//  5. complaint (申诉求决类), the category with the full statutory
//     handling, review and re-review clocks, so an unclear matter loses no
//     procedural right.
func (rs *Ruleset) classify(hint county.Category, text string) (county.Category, CategorySource, string) {
	if hint != "" {
		return hint, SourceHint, ""
	}
	if containsAny(text, accusationWords) {
		return county.CategoryAccusation, SourceAccusationWords, ""
	}
	for i := range rs.rules {
		cr := &rs.rules[i]
		if cr.classifies == "" {
			continue
		}
		if cr.keywordsHold(text) {
			return cr.classifies, SourceRule, cr.r.ID
		}
	}
	if containsAny(text, suggestionWords) && !containsAny(text, demandWords) {
		return county.CategorySuggestion, SourceSuggestionWords, ""
	}
	return county.CategoryComplaint, SourceDefault, ""
}

func (cr *compiledRule) keywordsHold(text string) bool {
	if len(cr.any) > 0 && !containsAny(text, cr.any) {
		return false
	}
	for _, k := range cr.all {
		if !strings.Contains(text, k) {
			return false
		}
	}
	return !containsAny(text, cr.non)
}

func containsAny(text string, words []string) bool {
	for _, w := range words {
		if strings.Contains(text, w) {
			return true
		}
	}
	return false
}
