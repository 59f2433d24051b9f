package intake

import (
	"errors"
	"strings"
	"time"
)

// idWeights are the GB 11643-1999 weights of the first 17 digits.
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idCheck maps the weighted sum mod 11 to the check character.
const idCheck = "10X98765432"

// NormalizeIDNumber trims spaces and upper-cases the check character, the
// form that is validated, hashed and encrypted.
func NormalizeIDNumber(s string) string {
	return strings.ToUpper(strings.TrimSpace(s))
}

// CheckIDNumber validates an 18-digit resident identity number: digits, a
// valid birth date (not in the future) and the GB 11643 check character.
// Its errors never repeat the number.
func CheckIDNumber(s string, today time.Time) error {
	if len(s) != 18 {
		return errors.New("must be 18 characters (GB 11643)")
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return errors.New("the first 17 characters must be digits")
		}
		sum += int(c-'0') * idWeights[i]
	}
	if s[0] == '0' || s[0] == '9' {
		return errors.New("the region code is not valid")
	}
	birth, err := time.Parse("20060102", s[6:14])
	if err != nil || birth.Year() < 1900 || birth.After(today) {
		return errors.New("the birth date is not valid")
	}
	if s[17] != idCheck[sum%11] {
		return errors.New("the check digit does not match (GB 11643)")
	}
	return nil
}
