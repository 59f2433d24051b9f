package county

import (
	"fmt"
	"time"
)

// CalendarSpec is the county's list of exceptions to the Monday-Friday
// working week, as published each year by the State Council's General
// Office. Dates are YYYY-MM-DD civil dates in China Standard Time.
//
// +kubebuilder:validation:XValidation:rule="!has(self.holidays) || !has(self.workdays) || self.holidays.all(h, !(h in self.workdays))",message="a date cannot be both a holiday and a make-up working day"
type CalendarSpec struct {
	// Holidays are days off, weekends inside a holiday included.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=512
	// +kubebuilder:validation:items:Pattern=`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`
	Holidays []string `json:"holidays,omitempty"`

	// Workdays are make-up working days (调休): Saturdays or Sundays that are
	// worked to lengthen a holiday.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:Pattern=`^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`
	Workdays []string `json:"workdays,omitempty"`
}

// Shanghai is China Standard Time. China has kept UTC+8 without daylight
// saving since 1991, so a fixed zone is exact and needs no tzdata in the
// container image.
var Shanghai = time.FixedZone("CST", 8*3600)

// Date is a civil date, the unit every petition deadline is counted in. It
// has no zone: DateOf decides which day an instant belongs to. The zero Date
// is not a valid date. Dates are comparable with == and usable as map keys.
//
// +kubebuilder:object:generate=false
type Date struct {
	year  int
	month time.Month
	day   int
}

// NewDate returns the date, normalising overflow as time.Date does
// (2026-02-30 becomes 2026-03-02).
func NewDate(year int, month time.Month, day int) Date {
	return dateFromTime(time.Date(year, month, day, 0, 0, 0, 0, time.UTC))
}

// ParseDate parses YYYY-MM-DD and rejects dates that do not exist.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q is not a valid YYYY-MM-DD date: %w", s, err)
	}
	return dateFromTime(t), nil
}

// DateOf returns the date an instant falls on in China Standard Time: a
// petition registered at 2026-02-14T23:30+08:00 was registered on the 14th
// even though it is the 14th 15:30 in UTC.
func DateOf(t time.Time) Date {
	return dateFromTime(t.In(Shanghai))
}

func dateFromTime(t time.Time) Date {
	y, m, d := t.Date()
	return Date{year: y, month: m, day: d}
}

func (d Date) utc() time.Time { return time.Date(d.year, d.month, d.day, 0, 0, 0, 0, time.UTC) }

// Year, Month and Day return the date's parts.
func (d Date) Year() int             { return d.year }
func (d Date) Month() time.Month     { return d.month }
func (d Date) Day() int              { return d.day }
func (d Date) IsZero() bool          { return d == Date{} }
func (d Date) Weekday() time.Weekday { return d.utc().Weekday() }

// Start returns the first instant of the date in China Standard Time; a
// deadline date D ends at D.AddDays(1).Start().
func (d Date) Start() time.Time {
	return time.Date(d.year, d.month, d.day, 0, 0, 0, 0, Shanghai)
}

// AddDays returns the date n calendar days later (earlier when n < 0).
func (d Date) AddDays(n int) Date { return dateFromTime(d.utc().AddDate(0, 0, n)) }

// Sub returns the number of days from o to d.
func (d Date) Sub(o Date) int { return int(d.utc().Sub(o.utc()).Hours() / 24) }

// Compare returns -1, 0 or +1 as d is before, equal to or after o.
func (d Date) Compare(o Date) int { return d.utc().Compare(o.utc()) }

func (d Date) Before(o Date) bool { return d.Compare(o) < 0 }
func (d Date) After(o Date) bool  { return d.Compare(o) > 0 }

// String formats the date as YYYY-MM-DD.
func (d Date) String() string {
	// By hand, not fmt: supervision formats a date for each of a case's
	// timers and deadlines (≈ 6% of its CPU with Sprintf).
	if d.year < 0 || d.year > 9999 || d.month < 1 || d.month > 12 || d.day < 1 || d.day > 31 {
		return fmt.Sprintf("%04d-%02d-%02d", d.year, int(d.month), d.day)
	}
	b := [10]byte{
		byte('0' + d.year/1000), byte('0' + d.year/100%10), byte('0' + d.year/10%10), byte('0' + d.year%10), '-',
		byte('0' + int(d.month)/10), byte('0' + int(d.month)%10), '-',
		byte('0' + d.day/10), byte('0' + d.day%10),
	}
	return string(b[:])
}

// MarshalText lets a Date travel in JSON and events as YYYY-MM-DD.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses YYYY-MM-DD.
func (d *Date) UnmarshalText(b []byte) error {
	p, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// Calendar answers which days are working days. It is built once from a
// validated CalendarSpec and is safe for concurrent use. A nil *Calendar is
// the plain Monday-Friday week.
//
// Dates outside the years the spec lists are judged by weekday alone, so a
// county must add each new year's notice before the year starts; Covers
// tells the services whether it has.
//
// +kubebuilder:object:generate=false
type Calendar struct {
	holidays map[Date]bool
	workdays map[Date]bool
	years    map[int]bool
}

// NewCalendar compiles a CalendarSpec. It fails on malformed dates and on a
// date listed as both holiday and working day.
func NewCalendar(spec *CalendarSpec) (*Calendar, error) {
	c := &Calendar{holidays: map[Date]bool{}, workdays: map[Date]bool{}, years: map[int]bool{}}
	if spec == nil {
		return c, nil
	}
	for _, s := range spec.Holidays {
		d, err := ParseDate(s)
		if err != nil {
			return nil, fmt.Errorf("calendar holidays: %w", err)
		}
		c.holidays[d] = true
		c.years[d.year] = true
	}
	for _, s := range spec.Workdays {
		d, err := ParseDate(s)
		if err != nil {
			return nil, fmt.Errorf("calendar workdays: %w", err)
		}
		if c.holidays[d] {
			return nil, fmt.Errorf("calendar: %s is listed both as a holiday and as a working day", d)
		}
		c.workdays[d] = true
		c.years[d.year] = true
	}
	return c, nil
}

// IsWorkingDay reports whether staff work on d: make-up working days are
// working days, holidays are not, otherwise Monday to Friday are.
func (c *Calendar) IsWorkingDay(d Date) bool {
	if c != nil {
		if c.workdays[d] {
			return true
		}
		if c.holidays[d] {
			return false
		}
	}
	wd := d.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// NextWorkingDay returns d if it is a working day, else the first working
// day after it.
func (c *Calendar) NextWorkingDay(d Date) Date {
	// Bounded: a spec holds at most 512 holidays, so a working day is never
	// more than a few hundred days away.
	for !c.IsWorkingDay(d) {
		d = d.AddDays(1)
	}
	return d
}

// AddDays returns the due date of a clock of n calendar days that starts on
// start. As in Chinese procedural law, the start day is not counted and a
// period whose last day is a holiday ends on the next working day: a
// 15-day clock from 2026-02-05 would end on 2026-02-20, inside the Spring
// Festival holiday, and so ends on 2026-02-24.
func (c *Calendar) AddDays(start Date, n int) Date {
	return c.NextWorkingDay(start.AddDays(n))
}

// AddWorkingDays returns the date on which n working days after start have
// passed; the start day is not counted. n <= 0 yields start, moved to the
// next working day if it is not one.
func (c *Calendar) AddWorkingDays(start Date, n int) Date {
	d := start
	for n > 0 {
		d = d.AddDays(1)
		if c.IsWorkingDay(d) {
			n--
		}
	}
	return c.NextWorkingDay(d)
}

// Covers reports whether the spec lists any date in year, i.e. whether the
// county has entered that year's holiday notice.
func (c *Calendar) Covers(year int) bool {
	return c != nil && c.years[year]
}
