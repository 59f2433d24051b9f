package supervision

import (
	"testing"

	"xinfang.io/county"
	"xinfang.io/services/supervision/casemachine"
)

// The Art. 40 answer window of a 督办通知 comes from the county file
// (escalation.answerWorkingDays; default 10 working days, as the other
// tests show), and is fixed when the notice is issued.
func TestAnswerWindowFromCountyFile(t *testing.T) { each(t, testAnswerWindowFromCountyFile) }

func testAnswerWindowFromCountyFile(t *testing.T, h *harness) {
	h.cfg = rules(t, func(s *county.Spec) { s.Escalation.AnswerWorkingDays = i32(3) })
	h.set("2026-03-02 09:00")
	h.assign("a1", "rsj")
	h.events()
	// Not acknowledged by 03-12: overdue and 督办通知 on 03-13 (a Friday);
	// three working days to answer: 03-16, 03-17, 03-18.
	h.advance("2026-03-14 00:00")
	h.expect(
		"2026-03-07 supervision REMINDER ACKNOWLEDGE rsj due=2026-03-12 step=0 leader=false",
		"2026-03-09 supervision REMINDER ACKNOWLEDGE rsj due=2026-03-12 step=0 leader=false",
		"2026-03-13 supervision OVERDUE ACKNOWLEDGE rsj due=2026-03-12 step=0 leader=false",
		"2026-03-13 supervision DUBAN_NOTICE ACKNOWLEDGE rsj due=2026-03-12 step=1 leader=false answerDue=2026-03-18",
	)
	// A later change of the window does not move the date already given.
	h.cfg = rules(t, func(s *county.Spec) { s.Escalation.AnswerWorkingDays = i32(20) })
	v := h.get("a1")
	if len(v.Notices) != 1 || v.Notices[0].AnswerDue != date("2026-03-18") {
		t.Fatalf("notices %+v", v.Notices)
	}
	r := h.act(dept("rsj"), "a1", casemachine.Command{Action: casemachine.ActAnswerSupervision, ActionEventID: v.Notices[0].EventID,
		Answer: "已于3月16日告知信访人受理，逾期原因系经办人员调整，已整改。"})
	if n := r.Case.Notices[0]; n.AnsweredOn != date("2026-03-14") || n.AnswerDue != date("2026-03-18") {
		t.Fatalf("answered notice %+v", n)
	}
}
