package virtpostest

import (
	"fmt"
	"strings"
)

// EAN13CheckDigit returns the check digit of a 12-digit EAN-13 body:
// digits in odd positions (1-based, from the left) weigh 1, even ones 3.
func EAN13CheckDigit(body string) (byte, error) {
	if len(body) != 12 {
		return 0, fmt.Errorf("ean13: body %q: want 12 digits", body)
	}
	sum := 0
	for i := 0; i < 12; i++ {
		c := body[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("ean13: body %q: not a digit at %d", body, i)
		}
		d := int(c - '0')
		if i%2 == 1 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10), nil
}

// UIDEAN13 renders a card uid the way virtpos does for uid_ean13: the uid
// left-padded with zeros to 12 digits, then the EAN-13 check digit. A uid
// that is not 1..12 decimal digits has no EAN-13 form and yields an error.
func UIDEAN13(uid string) (string, error) {
	if uid == "" || len(uid) > 12 {
		return "", fmt.Errorf("ean13: uid %q: want 1..12 digits", uid)
	}
	body := strings.Repeat("0", 12-len(uid)) + uid
	d, err := EAN13CheckDigit(body)
	if err != nil {
		return "", err
	}
	return body + string(d), nil
}
