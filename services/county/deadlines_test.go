package county

import (
	"testing"
)

func TestStatutoryTable(t *testing.T) {
	// The numbers of the 信访工作条例; a change here is a change of law.
	want := DeadlineTable{
		RoutingDays: 15, AcknowledgeDays: 15, ObjectionWorkingDays: 5,
		HandlingDays: 60, ExtensionDays: 30,
		ReviewRequestDays: 30, ReviewDecisionDays: 30,
		ReReviewRequestDays: 30, ReReviewDecisionDays: 30,
		EvaluationDays: 7, SuggestionHandlingDays: 60, AccusationHandlingDays: 60,
	}
	if Statutory != want {
		t.Fatalf("Statutory = %+v", Statutory)
	}
}

func TestDeadlinesEffective(t *testing.T) {
	var none *Deadlines
	if none.Effective() != Statutory {
		t.Fatal("nil overrides are not the statutory table")
	}
	ten, three := int32(10), int32(3)
	got := (&Deadlines{RoutingDays: &ten, ObjectionWorkingDays: &three, AccusationHandlingDays: &ten}).Effective()
	want := Statutory
	want.RoutingDays, want.ObjectionWorkingDays, want.AccusationHandlingDays = 10, 3, 10
	if got != want {
		t.Fatalf("Effective = %+v, want %+v", got, want)
	}
	if got.HandlingDaysFor(CategoryComplaint) != 60 || got.HandlingDaysFor(CategoryAccusation) != 10 || got.HandlingDaysFor(CategorySuggestion) != 60 {
		t.Fatalf("HandlingDaysFor is wrong: %+v", got)
	}
	// Every override reaches its own slot.
	var d Deadlines
	table := Statutory
	for i, f := range d.fields(&table) {
		v := int32(100 + i)
		*f.override = &v
	}
	eff := d.Effective()
	for i, f := range d.fields(&eff) {
		if *f.value != 100+i {
			t.Errorf("%s: effective %d, want %d", f.name, *f.value, 100+i)
		}
	}
}

func TestWarningsAndRepeatEffective(t *testing.T) {
	var w *Warnings
	if got := w.Effective(); got.GroupPersons != 5 || got.RepeatMatters != 3 || got.RepeatWindowDays != 180 || got.OverdueFor("zjj") != 5 {
		t.Fatalf("defaults = %+v", got)
	}
	three, eight := int32(3), int32(8)
	got := (&Warnings{GroupPersons: &three, OverdueThresholds: []DepartmentThreshold{{Department: "zjj", Threshold: eight}}}).Effective()
	if got.GroupPersons != 3 || got.OverdueFor("zjj") != 8 || got.OverdueFor("rsj") != 5 || got.SpikeFactorPercent != 200 {
		t.Fatalf("merged = %+v", got)
	}
	var r *RepeatDetection
	if r.Effective() != DefaultRepeatDetection {
		t.Fatal("nil repeat detection is not the default")
	}
	if got := (&RepeatDetection{SimilarityPercent: &eight}).Effective(); got.SimilarityPercent != 8 || got.WindowDays != DefaultRepeatDetection.WindowDays {
		t.Fatalf("merged = %+v", got)
	}
}

func TestEscalationEffective(t *testing.T) {
	var e *Escalation
	got := e.Effective()
	if len(got.Ladder) != 5 || got.Ladder[1].Step != StepDubanNotice || len(got.Reminders.PercentElapsed) != 2 {
		t.Fatalf("default = %+v", got)
	}
	// The result is a copy: editing it must not edit the default.
	*got.Ladder[1].AfterDays = 99
	got.Reminders.DaysBefore[0] = 99
	if *DefaultEscalation.Ladder[1].AfterDays != 0 || DefaultEscalation.Reminders.DaysBefore[0] != 3 {
		t.Fatal("Effective returned the default itself")
	}
	one := int32(1)
	own := &Escalation{Ladder: []EscalationStep{{Step: StepCircular, AfterDays: &one}}}
	got = own.Effective()
	if len(got.Ladder) != 1 || got.Ladder[0].Step != StepCircular || got.Reminders == nil || got.Reminders.DaysBefore[0] != 3 {
		t.Fatalf("own ladder, default reminders = %+v", got)
	}
	// The Art. 40 answer window: the default, or the county's own.
	if got.AnswerDays() != DefaultAnswerWorkingDays || (*Escalation)(nil).AnswerDays() != 10 || e.Effective().AnswerDays() != 10 {
		t.Fatalf("default answer window = %d", got.AnswerDays())
	}
	five := int32(5)
	own.AnswerWorkingDays = &five
	if got = own.Effective(); got.AnswerDays() != 5 || len(got.Ladder) != 1 {
		t.Fatalf("own answer window = %d", got.AnswerDays())
	}
	*got.AnswerWorkingDays = 7
	if *own.AnswerWorkingDays != 5 {
		t.Fatal("Effective shares the county's answer window")
	}
	v := &validator{}
	v.escalation(DefaultEscalation.DeepCopy())
	if len(v.errs) != 0 {
		t.Fatalf("DefaultEscalation is invalid: %v", v.errs)
	}
}
