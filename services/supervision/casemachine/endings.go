package casemachine

// Ways a case ends before it runs its course: the handling department's
// 不予受理 and the petitioner's withdrawal (撤回).

import (
	"strings"

	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/apierror"
)

// decline is the handling department's decision not to accept the matter
// (不予受理), told to the petitioner in writing within the acknowledgement
// period (Art. 23), with the statutory reason: a matter for a legal
// procedure (Art. 31(1)–(3)), one already being handled within its time
// limits (Art. 19(3)), one closed by re-review (Art. 36(3)), or not a
// petition matter (Art. 19). It is the alternative to acknowledge, so only
// an assigned case can be declined. The case closes as routed out: the
// bureau may still re-route it (a new case.assigned re-opens it).
func (m *machine) decline() error {
	f := apierror.Fields{}
	reason := oneOf(f, "notAcceptedReason", m.cmd.NotAcceptedReason, NotAcceptedReasons)
	text(f, "reason", m.cmd.Reason, true, maxReason)
	article := text(f, "article", m.cmd.Article, false, 16)
	if article == "" {
		article = declineArticles[m.cmd.NotAcceptedReason]
	}
	guidance := text(f, "guidance", m.cmd.Guidance, false, maxText)
	linked := text(f, "linkedCaseId", m.cmd.LinkedCaseID, false, maxName)
	var channel eventsv1.LegalChannel
	switch m.cmd.NotAcceptedReason {
	case "legal-channel":
		channel = oneOf(f, "legalChannel", m.cmd.LegalChannel, LegalChannels)
		if guidance == "" {
			f.Add("guidance", "required for a legal-channel matter: the petitioner is told where to go (Art. 31)")
		}
	default:
		if m.cmd.LegalChannel != "" {
			f.Add("legalChannel", "only for notAcceptedReason legal-channel")
		}
	}
	if linked != "" && linked == m.c.ID {
		f.Add("linkedCaseId", "is this case")
	}
	on := m.date(f, "notifiedOn", m.cmd.NotifiedOn, m.c.AssignedOn, "the assignment")
	if err := f.Err(); err != nil {
		return err
	}
	m.c.stopClocks(ClockMet, on, ClockAcknowledge)
	m.c.stopClocks(ClockStopped, m.today)
	m.c.State, m.c.CloseReason = StateClosed, CloseDeclined
	m.c.RoutedOut = &RoutedOut{Decision: "declined", On: on, Guidance: guidance, Article: article,
		Reason: strings.TrimSpace(m.cmd.Reason), Department: m.c.Department, NotAccepted: m.cmd.NotAcceptedReason,
		LegalChannel: m.cmd.LegalChannel, LinkedCaseID: linked}
	m.emit(&eventsv1.CaseDeclined{Department: m.c.Department, Reason: reason, Article: article, NotifiedOn: on.String(),
		LegalChannel: channel, Guidance: guidance, LinkedCaseId: linked})
	m.emit(&eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_ROUTED_OUT})
	return nil
}

// withdraw records the petitioner's withdrawal (撤回) of the matter, or of
// the review request pending on it: the case closes wherever it stands.
// The reason (the petitioner's written withdrawal, or the clerk's note of
// an oral one) is required.
func (m *machine) withdraw() error {
	f := apierror.Fields{}
	text(f, "reason", m.cmd.Reason, true, maxReason)
	if err := f.Err(); err != nil {
		return err
	}
	m.c.stopClocks(ClockStopped, m.today)
	m.c.State, m.c.CloseReason = StateClosed, CloseWithdrawn
	m.emit(&eventsv1.CaseClosed{Reason: eventsv1.CloseReason_CLOSE_REASON_WITHDRAWN})
	return nil
}
