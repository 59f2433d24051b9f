package routing

import (
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/outbox"
)

// InputFromEvent is the routing input of a registered petition.
func InputFromEvent(caseID string, p *eventsv1.PetitionRegistered) Input {
	return Input{
		CaseID:       caseID,
		Channel:      channelFromProto(p.GetChannel()),
		CategoryHint: categoryFromProto(p.GetCategoryHint()),
		Township:     p.GetTownship(),
		Respondent:   p.GetRespondent(),
		Title:        p.GetTitle(),
		Request:      p.GetContent().GetRequest(),
		Facts:        p.GetContent().GetFacts(),
		Reasons:      p.GetContent().GetReasons(),
		Group:        p.GetGroup(),
		PersonCount:  int(p.GetPersonCount()),
		RepeatOf:     p.GetRepeatOf(),
	}
}

var channels = map[eventsv1.Channel]county.Channel{
	eventsv1.Channel_CHANNEL_WEB:    county.ChannelWeb,
	eventsv1.Channel_CHANNEL_LETTER: county.ChannelLetter,
	eventsv1.Channel_CHANNEL_VISIT:  county.ChannelVisit,
	eventsv1.Channel_CHANNEL_PHONE:  county.ChannelPhone,
	eventsv1.Channel_CHANNEL_FAX:    county.ChannelFax,
}

func channelFromProto(c eventsv1.Channel) county.Channel { return channels[c] }

var categories = map[eventsv1.Category]county.Category{
	eventsv1.Category_CATEGORY_COMPLAINT:  county.CategoryComplaint,
	eventsv1.Category_CATEGORY_SUGGESTION: county.CategorySuggestion,
	eventsv1.Category_CATEGORY_ACCUSATION: county.CategoryAccusation,
}

func categoryFromProto(c eventsv1.Category) county.Category { return categories[c] }

func categoryToProto(c county.Category) eventsv1.Category {
	for k, v := range categories {
		if v == c {
			return k
		}
	}
	return eventsv1.Category_CATEGORY_UNSPECIFIED
}

var legalChannels = map[county.LegalChannel]eventsv1.LegalChannel{
	county.LegalLitigation:                    eventsv1.LegalChannel_LEGAL_CHANNEL_LITIGATION,
	county.LegalArbitration:                   eventsv1.LegalChannel_LEGAL_CHANNEL_ARBITRATION,
	county.LegalPartyDiscipline:               eventsv1.LegalChannel_LEGAL_CHANNEL_PARTY_DISCIPLINE,
	county.LegalAdministrativeReconsideration: eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_RECONSIDERATION,
	county.LegalAdministrativeRuling:          eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_RULING,
	county.LegalAdministrativeConfirmation:    eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_CONFIRMATION,
	county.LegalAdministrativeLicensing:       eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_LICENSING,
	county.LegalAdministrativePenalty:         eventsv1.LegalChannel_LEGAL_CHANNEL_ADMINISTRATIVE_PENALTY,
	county.LegalOther:                         eventsv1.LegalChannel_LEGAL_CHANNEL_OTHER_LEGAL,
}

var notAcceptedReasons = map[NotAcceptedReason]eventsv1.NotAcceptedReason{
	ReasonFinal:           eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_FINAL,
	ReasonWithinTimeLimit: eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_WITHIN_TIME_LIMIT,
	ReasonOutOfScope:      eventsv1.NotAcceptedReason_NOT_ACCEPTED_REASON_OUT_OF_SCOPE,
}

var modes = map[Mode]eventsv1.AssignMode{
	ModeTransfer: eventsv1.AssignMode_ASSIGN_MODE_TRANSFER,
	ModeAssign:   eventsv1.AssignMode_ASSIGN_MODE_ASSIGN,
}

// Payload is the event a decision is published as.
func (d *Decision) Payload() (*eventsv1.Envelope, error) {
	env := &eventsv1.Envelope{}
	cat := categoryToProto(d.Category)
	var err error
	switch d.Kind {
	case KindAssigned:
		a := &eventsv1.CaseAssigned{
			Mode: modes[d.Mode], Category: cat, LeadDepartment: d.Lead, CoDepartments: d.Co,
			AcknowledgeDue: d.AcknowledgeDue, RuleId: d.RuleID, RulesVersion: d.RulesVersion,
			ExcludedDepartments: d.Excluded, Manual: d.Manual, Attempt: d.Attempt,
		}
		for _, o := range d.Overrides {
			a.Overrides = append(a.Overrides, &eventsv1.GuardOverride{
				Guard: o.Guard, RuleId: o.RuleID, ExcludedDepartment: o.Excluded, Replacement: o.Replacement, Note: o.Note,
			})
		}
		err = env.SetPayload(a)
	case KindDiverted:
		err = env.SetPayload(&eventsv1.CaseDiverted{
			Category: cat, LegalChannel: legalChannels[d.LegalChannel], Body: d.Body, Guidance: d.Guidance,
			RuleId: d.RuleID, RulesVersion: d.RulesVersion,
		})
	case KindForwarded:
		err = env.SetPayload(&eventsv1.CaseForwarded{
			Category: cat, Destination: d.Destination, RuleId: d.RuleID, RulesVersion: d.RulesVersion,
		})
	case KindNotAccepted:
		err = env.SetPayload(&eventsv1.CaseNotAccepted{
			Reason: notAcceptedReasons[d.NotAccepted], Article: d.Article, LinkedCaseId: d.LinkedCase,
			RulesVersion: d.RulesVersion,
		})
	case KindAwaitingManual:
		// Not a routing decision: bureau staff are told that the case needs
		// a manual 转办. decisionEnvelope names the case.
		var names []string
		for _, e := range d.Exclusions {
			names = append(names, e.Department)
		}
		err = env.SetPayload(&eventsv1.AlertRaised{
			Kind: eventsv1.AlertKind_ALERT_KIND_ROUTING_NEEDS_STAFF, Dimension: "case", Count: 1,
			Message: fmt.Sprintf("无可交办的部门（%s 均已排除：回避、异议或被检举控告），请人工转办", strings.Join(names, "、")),
		})
	default:
		return nil, fmt.Errorf("decision of unknown kind %q", d.Kind)
	}
	if err != nil {
		return nil, err
	}
	return env, nil
}

// decisionEnvelope is the event of decision d for a case.
func decisionEnvelope(caseID string, d Decision, actor *eventsv1.Actor, causation, reason string, imported bool, now time.Time) (*eventsv1.Envelope, error) {
	env, err := d.Payload()
	if err != nil {
		return nil, fmt.Errorf("decision event for %s: %w", caseID, err)
	}
	env.CaseId = caseID
	if a := env.GetAlertRaised(); a != nil {
		a.Key, a.CaseIds = caseID, []string{caseID}
	}
	env.OccurredAt = timestamppb.New(now)
	env.RecordedAt = timestamppb.New(now)
	env.Actor = actor
	env.CausationId = causation
	env.Reason = reason
	env.Imported = imported
	return env, nil
}

// systemActor is routing acting on its own rules.
func systemActor() *eventsv1.Actor {
	return &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_SYSTEM, Id: "routing"}
}

// newEventID is the id of an event routing emits; set before enqueueing so
// the case row and the audit can name it.
func newEventID() string { return outbox.NewEventID() }
