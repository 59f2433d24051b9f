package statistics

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"xinfang.io/county"
	eventsv1 "xinfang.io/proto/events/v1"
	"xinfang.io/services/kit/outbox"
	"xinfang.io/services/kit/store"
)

// Alert kinds as stored and listed.
const (
	alertGroup   = "group_petition"
	alertSpike   = "spike"
	alertRepeat  = "repeat_petitioner"
	alertOverdue = "overdue_accumulation"
)

var alertKinds = map[string]eventsv1.AlertKind{
	alertGroup:   eventsv1.AlertKind_ALERT_KIND_GROUP_PETITION,
	alertSpike:   eventsv1.AlertKind_ALERT_KIND_SPIKE,
	alertRepeat:  eventsv1.AlertKind_ALERT_KIND_REPEAT_PETITIONER,
	alertOverdue: eventsv1.AlertKind_ALERT_KIND_OVERDUE_ACCUMULATION,
}

// statisticsActor is the actor of alert.raised.
var statisticsActor = &eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_SYSTEM, Id: "statistics"}

// raiser evaluates the early-warning rules for one live event, inside its
// transaction: an alert is stored (once per dedup key) and its
// alert.raised enqueued in the outbox in the same commit.
type raiser struct {
	s   *service
	tx  *store.Tx
	cfg *county.Config
	env *eventsv1.Envelope
	now time.Time
	// pending is the batch's work not yet written: the rules read the
	// database plus it.
	pending *ingest
}

func (r *raiser) raise(ctx context.Context, a *Alert) error {
	a.EventID = outbox.NewEventID()
	a.RaisedAt = r.now
	if a.CaseIDs == nil {
		a.CaseIDs = []string{}
	}
	if r.pending.stored(a.dedup) {
		return nil
	}
	r.pending.raised[a.dedup] = true
	inserted, err := insertAlert(ctx, r.tx, a)
	if err != nil || !inserted {
		return err
	}
	env := &eventsv1.Envelope{
		EventId:     a.EventID,
		CaseId:      a.CaseID,
		OccurredAt:  timestamppb.New(r.now),
		Actor:       statisticsActor,
		CausationId: r.env.GetEventId(),
		Reason:      a.Message,
	}
	if err := env.SetPayload(&eventsv1.AlertRaised{
		Kind: alertKinds[a.Kind], Dimension: a.Dimension, Key: a.Key, Count: uint64(max(a.Count, 0)),
		Baseline: a.Baseline, Threshold: a.Threshold, Window: a.Window, Message: a.Message, CaseIds: a.CaseIDs,
	}); err != nil {
		return err
	}
	if err := r.s.outbox.Enqueue(ctx, r.tx, env); err != nil {
		return err
	}
	r.s.log.InfoContext(ctx, "alert raised", "kind", a.Kind, "dimension", a.Dimension, "key", a.Key, "count", a.Count,
		"case_id", a.CaseID, "alert_event_id", a.EventID)
	return nil
}

func (r *raiser) label(dimName, key string) string { return labeler{r.cfg}.label(dimName, key) }

// onRegistered runs the registration rules: group petition, spikes,
// repeat petitioner.
func (r *raiser) onRegistered(ctx context.Context, w county.WarningThresholds, c *caseState, reg *eventsv1.PetitionRegistered) error {
	caseID := r.env.GetCaseId()
	day := c.ReceivedDay
	// Group petition (Art. 20): persons ≥ warnings.groupPersons.
	if c.Persons >= w.GroupPersons {
		if err := r.raise(ctx, &Alert{
			dedup: "group/" + caseID, CaseID: caseID, Kind: alertGroup, Dimension: dimTownship, Key: c.Township, Day: day,
			Count: int64(c.Persons), Threshold: float64(w.GroupPersons), Window: "1d",
			Message: fmt.Sprintf("集体信访预警：%s %d人（%s），案件%s。", r.label(dimTownship, c.Township), c.Persons,
				channelLabels[c.Channel], caseID),
			CaseIDs: []string{caseID},
		}); err != nil {
			return err
		}
	}
	// Spikes: the day's registrations of a category, township or
	// respondent against the mean of the baseline days before it.
	for _, d := range [][2]string{{dimCategory, c.category()}, {dimTownship, c.Township}, {dimRespondent, c.Respondent}} {
		if d[1] == "" {
			continue
		}
		if err := r.spike(ctx, w, d[0], d[1], day); err != nil {
			return err
		}
	}
	// Repeat petitioner: the Nth distinct matter within the window.
	for _, k := range reg.GetPetitionerKeys() {
		if k == "" {
			continue
		}
		if err := r.repeat(ctx, w, k, day); err != nil {
			return err
		}
	}
	return nil
}

func (r *raiser) spike(ctx context.Context, w county.WarningThresholds, dimName, key, day string) error {
	id := "alert/spike/" + dimName + "/" + key + "/" + day
	if r.pending.stored(id) {
		return nil // once a day
	}
	d, err := county.ParseDate(day)
	if err != nil {
		return err
	}
	count, err := r.pending.committedCount(ctx, mRegistrations, dimName, key, d, d)
	if err != nil {
		return err
	}
	count += r.pending.dayCount(mRegistrations, dimName, key, day)
	if count < int64(w.SpikeMinCount) {
		return nil
	}
	days := max(w.BaselineDays, 1)
	sum, err := r.pending.committedCount(ctx, mRegistrations, dimName, key, d.AddDays(-days), d.AddDays(-1))
	if err != nil {
		return err
	}
	for i := 1; i <= days; i++ {
		sum += r.pending.dayCount(mRegistrations, dimName, key, d.AddDays(-i).String())
	}
	baseline := float64(sum) / float64(days)
	threshold := baseline * float64(w.SpikeFactorPercent) / 100
	if float64(count) <= threshold {
		return nil
	}
	return r.raise(ctx, &Alert{
		dedup: id, CaseID: id, Kind: alertSpike, Dimension: dimName, Key: key, Day: day, Count: count,
		Baseline: round2(baseline), Threshold: round2(threshold), Window: fmt.Sprintf("%dd", days),
		Message: fmt.Sprintf("信访量异常增长：%s %s当日%d件，前%d天日均%.2f件（预警线%.2f件）。", dimNames[dimName],
			r.label(dimName, key), count, days, baseline, threshold),
		CaseIDs: []string{r.env.GetCaseId()},
	})
}

var dimNames = map[string]string{
	dimCategory: "类别", dimTownship: "乡镇（街道）", dimRespondent: "被反映单位", dimDepartment: "责任单位", dimChannel: "渠道",
}

func (r *raiser) repeat(ctx context.Context, w county.WarningThresholds, key, day string) error {
	d, err := county.ParseDate(day)
	if err != nil {
		return err
	}
	id := "repeat/" + key + "/" + day
	if r.pending.stored(id) {
		return nil // once a day
	}
	window := max(w.RepeatWindowDays, 1)
	from := d.AddDays(-(window - 1)).String()
	stored, err := petitionerMatters(ctx, r.tx, key, from, day)
	if err != nil {
		return fmt.Errorf("repeat petitioner: %w", err)
	}
	// One case per distinct matter, the smallest id.
	matters := map[string]string{}
	note := func(m matterRow) {
		if prev, ok := matters[m.matter]; !ok || m.caseID < prev {
			matters[m.matter] = m.caseID
		}
	}
	for _, m := range stored {
		note(m)
	}
	caseID := r.env.GetCaseId()
	// Only a new distinct matter counts: a repeat of a matter already in
	// the window is the same matter.
	mine := ""
	for _, m := range r.pending.mattersOf[key] {
		if m.day < from || m.day > day {
			continue
		}
		note(m)
		if m.caseID == caseID {
			mine = m.matter
		}
	}
	for _, m := range slices.Concat(stored, r.pending.mattersOf[key]) {
		if m.matter == mine && m.caseID != caseID && m.day >= from && m.day <= day {
			return nil // another case of the petitioner's in the window is the same matter
		}
	}
	if len(matters) < w.RepeatMatters {
		return nil
	}
	ids := make([]string, 0, len(matters))
	for _, c := range matters {
		ids = append(ids, c)
	}
	sort.Strings(ids)
	return r.raise(ctx, &Alert{
		dedup: id, CaseID: caseID, Kind: alertRepeat, Dimension: "petitioner", Key: key, Day: day,
		Count: int64(len(matters)), Threshold: float64(w.RepeatMatters), Window: fmt.Sprintf("%dd", window),
		Message: fmt.Sprintf("重复信访人预警：同一信访人%d天内第%d件不同事项（%s）。", window, len(matters), strings.Join(ids, "、")),
		CaseIDs: ids,
	})
}

// onOverdue runs the overdue-accumulation rule when a case became overdue
// for dept: at or above the department's threshold, once per day.
func (r *raiser) onOverdue(ctx context.Context, w county.WarningThresholds, dept string) error {
	day := county.DateOf(r.now).String()
	id := "alert/overdue/" + dept + "/" + day
	if r.pending.stored(id) {
		return nil // once a day
	}
	limit := w.OverdueFor(dept)
	// The database as of the batch's start, corrected by the batch's cases.
	add, del := r.pending.overAdd[dept], r.pending.overDel[dept]
	n, stored, err := overdueCases(ctx, r.tx, dept, 50+len(del))
	if err != nil {
		return err
	}
	n += int64(len(add) - len(del))
	var ids []string
	for _, id := range stored {
		if !del[id] {
			ids = append(ids, id)
		}
	}
	for id := range add {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	ids = ids[:min(len(ids), 50)]
	if n < int64(limit) {
		return nil
	}
	return r.raise(ctx, &Alert{
		dedup: id, CaseID: id, Kind: alertOverdue, Dimension: dimDepartment, Key: dept, Day: day, Count: n,
		Threshold: float64(limit), Window: "open",
		Message: fmt.Sprintf("超期积压预警：%s 超期未办结%d件，达到预警线%d件。", r.label(dimDepartment, dept), n, limit),
		CaseIDs: ids,
	})
}
