package statistics

import (
	"time"

	"xinfang.io/county"
)

// Counters are kept per day and rolled up per dekad (旬: days 1–10, 11–20,
// 21–end of a month), per month, per quarter and per year, all in
// stat_counts, each level with its own period key:
//
//	day     "2026-06-25"
//	dekad   "2026-06~3"
//	month   "2026-06"
//	quarter "2026-Q2"
//	year    "2026"
//
// A period [from, to] is read as the fewest whole years, quarters, months,
// dekads and days that tile it (periodKeys): at most 30 keys for any
// period of up to 366 days, 1 for a calendar year, 4 for a year of whole
// quarters; so a query reads at most 30 rows per dimension key whatever
// the history holds.

var quarterOf = [13]string{"", "Q1", "Q1", "Q1", "Q2", "Q2", "Q2", "Q3", "Q3", "Q3", "Q4", "Q4", "Q4"}

// levelKeys are the period keys a day's counters roll up into.
func levelKeys(day string) [5]string {
	dk := "1"
	switch {
	case day[8:] > "20":
		dk = "3"
	case day[8:] > "10":
		dk = "2"
	}
	m := int(day[5]-'0')*10 + int(day[6]-'0')
	return [5]string{day, day[:7] + "~" + dk, day[:7], day[:5] + quarterOf[m], day[:4]}
}

// quarterEnd is the last day of d's quarter.
func quarterEnd(d county.Date) county.Date {
	q := (int(d.Month()) - 1) / 3
	return county.NewDate(d.Year(), time.Month(3*q+4), 0)
}

func monthEnd(d county.Date) county.Date { return county.NewDate(d.Year(), d.Month()+1, 0) }

// dekadEnd is the last day of d's dekad.
func dekadEnd(d county.Date) county.Date {
	switch {
	case d.Day() <= 10:
		return county.NewDate(d.Year(), d.Month(), 10)
	case d.Day() <= 20:
		return county.NewDate(d.Year(), d.Month(), 20)
	}
	return monthEnd(d)
}

// periodKeys tiles [from, to] with the largest aligned periods: from each
// start, a whole year if it fits, else a whole month, a whole dekad or the
// day.
func periodKeys(from, to county.Date) []string {
	var out []string
	for d := from; !to.Before(d); {
		s := d.String()
		var end county.Date
		switch {
		case d.Month() == time.January && d.Day() == 1 && !to.Before(county.NewDate(d.Year(), time.December, 31)):
			end = county.NewDate(d.Year(), time.December, 31)
			out = append(out, s[:4])
		case d.Day() == 1 && (d.Month()-1)%3 == 0 && !to.Before(quarterEnd(d)):
			end = quarterEnd(d)
			out = append(out, levelKeys(s)[3])
		case d.Day() == 1 && !to.Before(monthEnd(d)):
			end = monthEnd(d)
			out = append(out, s[:7])
		case (d.Day() == 1 || d.Day() == 11 || d.Day() == 21) && !to.Before(dekadEnd(d)):
			end = dekadEnd(d)
			out = append(out, levelKeys(s)[1])
		default:
			end = d
			out = append(out, s)
		}
		d = end.AddDays(1)
	}
	return out
}

// prefixKeys tiles every day from the first year with data (first) to
// through to: the periods whose sum is a level as of to (积案).
func prefixKeys(first int, to county.Date) []string {
	if first > to.Year() {
		return nil
	}
	return periodKeys(county.NewDate(first, time.January, 1), to)
}
