package county

import (
	"errors"
	"strings"
	"testing"
)

// minimalYAML is a small valid bare spec that tests mutate.
const minimalYAML = `
id: testcounty
displayName: 测试县
divisionCode: "330599"
townships:
  - {id: town-a, name: 甲镇}
  - {id: town-b, name: 乙镇}
departments:
  - {id: xfj, name: 信访局, kind: bureau, categories: [complaint, suggestion, accusation], supervisingBody: jw}
  - {id: jw, name: 纪委监委, kind: discipline, categories: [accusation, complaint]}
  - {id: zjj, name: 住建局, kind: department, categories: [complaint, suggestion], supervisingBody: jw}
  - {id: gov-a, name: 甲镇人民政府, kind: township, township: town-a, categories: [complaint], supervisingBody: jw}
routingRules:
  - id: housing
    match:
      categories: [complaint]
      keywords: {any: [物业, 拆迁]}
    assign: {lead: zjj, co: [gov-a]}
  - id: court
    match: {keywords: {any: [判决]}}
    divert: {legalChannel: litigation, body: 某县人民法院}
  - id: out
    match: {keywords: {any: [邻县]}}
    forward: {to: 邻县信访局}
defaultDepartment: xfj
deadlines: {routingDays: 10}
calendar:
  holidays: ["2026-02-16"]
  workdays: ["2026-02-14"]
escalation:
  ladder:
    - {step: reminder, percentElapsed: 50}
    - {step: duban-notice, afterDays: 0}
    - {step: interview, afterDays: 7, notifyLeader: true}
  reminders: {percentElapsed: [50, 75], daysBefore: [3]}
warnings:
  groupPersons: 5
  overdueThresholds: [{department: zjj, threshold: 8}]
repeatDetection: {similarityPercent: 80, windowDays: 365}
`

func minimalSpec(t *testing.T) Spec {
	t.Helper()
	c, err := Parse([]byte(minimalYAML))
	if err != nil {
		t.Fatalf("minimal spec does not parse: %v", err)
	}
	return *c.Spec.DeepCopy()
}

// fieldErrors returns the field errors of err, failing if it is not a
// *ValidationError.
func fieldErrors(t *testing.T, err error) []FieldError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	return ve.Errors
}

// hasFieldError reports whether errs holds an error at path whose message
// contains msg.
func hasFieldError(errs []FieldError, path, msg string) bool {
	for _, fe := range errs {
		if fe.Path == path && strings.Contains(fe.Message, msg) {
			return true
		}
	}
	return false
}
