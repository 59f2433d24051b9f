package county

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// cal2026 is the State Council's 2026 holiday notice, as in the Anji sample.
func cal2026(t *testing.T) *Calendar {
	t.Helper()
	c, err := NewCalendar(&CalendarSpec{
		Holidays: []string{
			"2026-01-01", "2026-01-02", "2026-01-03",
			"2026-02-15", "2026-02-16", "2026-02-17", "2026-02-18", "2026-02-19",
			"2026-02-20", "2026-02-21", "2026-02-22", "2026-02-23",
			"2026-04-04", "2026-04-05", "2026-04-06",
			"2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05",
			"2026-06-19", "2026-06-20", "2026-06-21",
			"2026-09-25", "2026-09-26", "2026-09-27",
			"2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07",
		},
		Workdays: []string{"2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"},
	})
	if err != nil {
		t.Fatalf("NewCalendar: %v", err)
	}
	return c
}

func d(t *testing.T, s string) Date {
	t.Helper()
	v, err := ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseDate(t *testing.T) {
	got, err := ParseDate("2026-02-14")
	if err != nil || got != NewDate(2026, time.February, 14) || got.String() != "2026-02-14" {
		t.Fatalf("ParseDate(2026-02-14) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "2026-02-30", "2026-2-14", "2026/02/14", "2026-02-14T00:00:00Z", "2025-02-29"} {
		if _, err := ParseDate(bad); err == nil {
			t.Errorf("ParseDate(%q) succeeded, want error", bad)
		}
	}
	if _, err := ParseDate("2024-02-29"); err != nil {
		t.Errorf("leap day rejected: %v", err)
	}
}

func TestDateArithmetic(t *testing.T) {
	if got := NewDate(2026, time.February, 30); got != d(t, "2026-03-02") {
		t.Errorf("NewDate normalises to %v, want 2026-03-02", got)
	}
	if got := d(t, "2025-12-31").AddDays(1); got != d(t, "2026-01-01") {
		t.Errorf("AddDays across the year = %v", got)
	}
	if got := d(t, "2026-03-01").AddDays(-1); got != d(t, "2026-02-28") {
		t.Errorf("AddDays(-1) = %v", got)
	}
	if n := d(t, "2026-02-24").Sub(d(t, "2026-02-05")); n != 19 {
		t.Errorf("Sub = %d, want 19", n)
	}
	a, b := d(t, "2026-02-05"), d(t, "2026-02-06")
	if !a.Before(b) || !b.After(a) || a.Compare(b) != -1 || a.Compare(a) != 0 {
		t.Errorf("ordering of %v and %v is wrong", a, b)
	}
	if (Date{}).IsZero() != true || a.IsZero() {
		t.Error("IsZero is wrong")
	}
	if wd := d(t, "2026-02-14").Weekday(); wd != time.Saturday {
		t.Errorf("2026-02-14 is a %v, want Saturday", wd)
	}
}

func TestDateOfUsesChinaStandardTime(t *testing.T) {
	// 16:30 UTC on the 14th is 00:30 on the 15th in Anji.
	if got := DateOf(time.Date(2026, 2, 14, 16, 30, 0, 0, time.UTC)); got != d(t, "2026-02-15") {
		t.Errorf("DateOf = %v, want 2026-02-15", got)
	}
	if got := DateOf(time.Date(2026, 2, 14, 15, 59, 59, 0, time.UTC)); got != d(t, "2026-02-14") {
		t.Errorf("DateOf = %v, want 2026-02-14", got)
	}
	start := d(t, "2026-02-15").Start()
	if start.UTC() != time.Date(2026, 2, 14, 16, 0, 0, 0, time.UTC) {
		t.Errorf("Start = %v, want 2026-02-14T16:00Z", start.UTC())
	}
}

func TestDateJSON(t *testing.T) {
	b, err := json.Marshal(struct{ Due Date }{d(t, "2026-02-24")})
	if err != nil || string(b) != `{"Due":"2026-02-24"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var v struct{ Due Date }
	if err := json.Unmarshal(b, &v); err != nil || v.Due != d(t, "2026-02-24") {
		t.Fatalf("Unmarshal = %v, %v", v.Due, err)
	}
	if err := json.Unmarshal([]byte(`{"Due":"2026-02-30"}`), &v); err == nil {
		t.Fatal("Unmarshal accepted 2026-02-30")
	}
}

func TestIsWorkingDay2026(t *testing.T) {
	c := cal2026(t)
	for _, tc := range []struct {
		date string
		want bool
		why  string
	}{
		{"2026-01-01", false, "元旦, a Thursday"},
		{"2026-01-04", true, "Sunday make-up day"},
		{"2026-01-05", true, "ordinary Monday"},
		{"2026-02-13", true, "Friday before the Spring Festival"},
		{"2026-02-14", true, "Saturday make-up day"},
		{"2026-02-15", false, "春节 starts"},
		{"2026-02-18", false, "春节, a Wednesday"},
		{"2026-02-23", false, "春节 ends, a Monday"},
		{"2026-02-24", true, "first day back"},
		{"2026-02-28", true, "Saturday make-up day"},
		{"2026-03-01", false, "ordinary Sunday"},
		{"2026-03-07", false, "ordinary Saturday"},
		{"2026-10-07", false, "国庆 ends"},
		{"2026-10-08", true, "Thursday after 国庆"},
		{"2026-10-10", true, "Saturday make-up day"},
	} {
		if got := c.IsWorkingDay(d(t, tc.date)); got != tc.want {
			t.Errorf("IsWorkingDay(%s) = %v, want %v (%s)", tc.date, got, tc.want, tc.why)
		}
	}
}

func TestAddDays2026(t *testing.T) {
	c := cal2026(t)
	for _, tc := range []struct {
		start string
		n     int
		want  string
		why   string
	}{
		{"2026-02-05", 15, "2026-02-24", "lands on 02-20 inside 春节, moves to the first day back"},
		{"2026-02-09", 5, "2026-02-14", "lands on the Saturday make-up day, which is a working day"},
		{"2026-01-20", 15, "2026-02-04", "an ordinary Wednesday"},
		{"2026-03-02", 5, "2026-03-09", "lands on Saturday 03-07, moves to Monday"},
		{"2026-04-20", 60, "2026-06-22", "the 60-day clock lands on 端午 06-19"},
		{"2026-09-16", 15, "2026-10-08", "lands on 国庆 10-01"},
		{"2025-12-20", 15, "2026-01-04", "lands on 2026-01-04, a Sunday make-up day"},
	} {
		if got := c.AddDays(d(t, tc.start), tc.n); got != d(t, tc.want) {
			t.Errorf("AddDays(%s, %d) = %v, want %s (%s)", tc.start, tc.n, got, tc.want, tc.why)
		}
	}
}

func TestAddWorkingDays2026(t *testing.T) {
	c := cal2026(t)
	for _, tc := range []struct {
		start string
		n     int
		want  string
		why   string
	}{
		// 13 (Fri), 14 (Sat, make-up), 24, 25, 26.
		{"2026-02-12", 5, "2026-02-26", "counts the Saturday make-up day and skips 春节"},
		// 10-08, 10-09, 10-10 (Sat, make-up), 10-12, 10-13.
		{"2026-09-30", 5, "2026-10-13", "skips 国庆, counts 10-10"},
		{"2026-03-06", 1, "2026-03-09", "Friday plus one is Monday"},
		{"2026-03-09", 5, "2026-03-16", "a plain week"},
		{"2026-02-16", 0, "2026-02-24", "zero days from a holiday is the next working day"},
		{"2026-03-09", 0, "2026-03-09", "zero days from a working day is that day"},
	} {
		if got := c.AddWorkingDays(d(t, tc.start), tc.n); got != d(t, tc.want) {
			t.Errorf("AddWorkingDays(%s, %d) = %v, want %s (%s)", tc.start, tc.n, got, tc.want, tc.why)
		}
	}
}

func TestNilCalendarIsPlainWeek(t *testing.T) {
	var c *Calendar
	if !c.IsWorkingDay(d(t, "2026-01-01")) {
		t.Error("without a calendar, Thursday 2026-01-01 should be a working day")
	}
	if c.IsWorkingDay(d(t, "2026-02-14")) {
		t.Error("without a calendar, Saturday 2026-02-14 should not be a working day")
	}
	if got := c.AddDays(d(t, "2026-02-05"), 15); got != d(t, "2026-02-20") {
		t.Errorf("AddDays = %v, want 2026-02-20", got)
	}
	if c.Covers(2026) {
		t.Error("nil calendar covers no year")
	}
}

func TestNewCalendarRejectsBadSpecs(t *testing.T) {
	for name, spec := range map[string]*CalendarSpec{
		"malformed holiday": {Holidays: []string{"2026-2-1"}},
		"impossible date":   {Workdays: []string{"2026-02-30"}},
		"both":              {Holidays: []string{"2026-02-14"}, Workdays: []string{"2026-02-14"}},
	} {
		if _, err := NewCalendar(spec); err == nil {
			t.Errorf("%s: NewCalendar succeeded", name)
		}
	}
}

func TestCovers(t *testing.T) {
	c := cal2026(t)
	if !c.Covers(2026) || c.Covers(2027) {
		t.Errorf("Covers(2026) = %v, Covers(2027) = %v", c.Covers(2026), c.Covers(2027))
	}
}

// String is written by hand for speed: it must print what Sprintf did, for
// every day of four centuries and for the zero Date.
func TestDateStringMatchesSprintf(t *testing.T) {
	check := func(d Date) {
		if want := fmt.Sprintf("%04d-%02d-%02d", d.year, int(d.month), d.day); d.String() != want {
			t.Fatalf("%#v.String() = %q, want %q", d, d.String(), want)
		}
	}
	check(Date{})
	check(Date{year: 12345, month: time.March, day: 4})
	for d := NewDate(1900, time.January, 1); d.year < 2300; d = d.AddDays(1) {
		check(d)
	}
}
