package virtposapi

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// textGuard sits between an orders body and its decoder. It replaces every
// byte that is not valid UTF-8 (and, for XML, every control character XML
// forbids) with U+FFFD and notes where, in the offsets the decoder sees.
// Without it the XML decoder rejects the whole response at the first bad
// byte, and the JSON decoder replaces it without a word; with it the
// decoders charge the bad byte to the one field it falls in, and that
// order alone carries the problem (Order.Problems).
type textGuard struct {
	r   io.Reader
	xml bool

	buf  []byte // raw bytes read; buf[done:] is an incomplete rune kept for the next read
	done int
	out  []byte // processed bytes not yet delivered
	tmp  []byte // where a chunk with replacements is rebuilt
	pos  int64  // output offset of the end of everything processed so far
	err  error

	bad []badSpan // replaced regions not yet charged to a field, in order
}

// badSpan is a run of output bytes that replaced bad input: [from, to).
type badSpan struct {
	from, to int64
	ctrl     rune // the control character, or -1 for bytes that are not UTF-8
}

// maxBadSpans bounds the spans kept: past it, new ones widen the last one
// (a field then reads as bad from its first bad byte on, which it is).
const maxBadSpans = 4096

const guardChunk = 32 << 10

func newTextGuard(r io.Reader, isXML bool) *textGuard {
	return &textGuard{r: r, xml: isXML, buf: make([]byte, 0, guardChunk)}
}

func (g *textGuard) Read(p []byte) (int, error) {
	for len(g.out) == 0 {
		if g.err != nil {
			return 0, g.err
		}
		g.fill()
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	return n, nil
}

// fill reads one chunk and makes it ready in out.
func (g *textGuard) fill() {
	// Keep the incomplete rune of the last chunk at the front.
	tail := copy(g.buf[:cap(g.buf)], g.buf[g.done:])
	g.buf = g.buf[:tail]
	n, err := g.r.Read(g.buf[tail:cap(g.buf)])
	g.buf = g.buf[:tail+n]
	if err != nil {
		g.err = err
	}
	end := len(g.buf)
	if g.err == nil {
		end = completeRunes(g.buf)
	}
	g.done = end
	chunk := g.buf[:end]
	if utf8.Valid(chunk) && (!g.xml || !hasForbiddenControl(chunk)) {
		g.out = chunk
		g.pos += int64(len(chunk))
		return
	}
	g.tmp = g.tmp[:0]
	for i := 0; i < len(chunk); {
		c := chunk[i]
		if c < utf8.RuneSelf {
			if g.xml && forbiddenControl(c) {
				g.replace(rune(c))
			} else {
				g.tmp = append(g.tmp, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(chunk[i:])
		if r == utf8.RuneError && size == 1 {
			g.replace(-1)
			i++
			continue
		}
		g.tmp = append(g.tmp, chunk[i:i+size]...)
		i += size
	}
	g.out = g.tmp
	g.pos += int64(len(g.tmp))
}

// replace writes U+FFFD for one bad byte and notes its span.
func (g *textGuard) replace(ctrl rune) {
	from := g.pos + int64(len(g.tmp))
	g.tmp = append(g.tmp, "\uFFFD"...)
	to := from + int64(len("\uFFFD"))
	if n := len(g.bad); n > 0 && (g.bad[n-1].to == from && g.bad[n-1].ctrl == ctrl || n >= maxBadSpans) {
		g.bad[n-1].to = to
		return
	}
	g.bad = append(g.bad, badSpan{from: from, to: to, ctrl: ctrl})
}

// charge returns the problem of the value the decoder read from output
// offsets [start, end), "" when it is clean, and forgets every span
// before end: decoding only moves forward.
func (g *textGuard) charge(start, end int64, value string) string {
	var hit *badSpan
	drop := 0
	for i := range g.bad {
		s := &g.bad[i]
		if s.from >= end {
			break
		}
		drop = i + 1
		if hit == nil && s.to > start {
			hit = s
		}
	}
	var problem string
	if hit != nil {
		// The position within the value as decoded (entities and escapes
		// resolved), where the replacement shows.
		at := max(strings.Index(value, "\uFFFD"), 0)
		if hit.ctrl >= 0 {
			problem = fmt.Sprintf("control character %U at byte %d", hit.ctrl, at)
		} else {
			problem = fmt.Sprintf("not valid UTF-8 at byte %d", at)
		}
	}
	g.bad = g.bad[:copy(g.bad, g.bad[drop:])]
	return problem
}

// completeRunes returns the length of b without a trailing incomplete
// UTF-8 sequence (at most 3 bytes), which may complete with the next read.
func completeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// forbiddenControl reports an ASCII control character XML 1.0 does not
// allow anywhere in a document.
func forbiddenControl(c byte) bool { return c < 0x20 && c != '\t' && c != '\n' && c != '\r' }

func hasForbiddenControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && forbiddenControl(c) {
			return true
		}
	}
	return false
}
