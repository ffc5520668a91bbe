package preflight

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/mapping"
)

// sampleSize is how many records of customers and cards are read and
// mapped: more than one, so that one record's bad data is told apart from a
// map that fails on every record.
const sampleSize = 5

// errEnough stops a listing once the sample is complete.
var errEnough = errors.New("sample complete")

const (
	fixOneCURL = "onec.base_url must be the publication's OData root, http://<server>/<publication>/odata/standard.odata: " +
		"check the publication name on the web server and that \"Publish standard OData interface\" is ticked"
	fixOneCNet = "check the host and port of onec.base_url, that the web server publishing 1C runs, " +
		"and that this host may reach it (firewall, proxy)"
	fixOneCAuth = "set onec.user and onec.password (ONEC_USER, ONEC_PASSWORD) to an infobase user with " +
		"1C:Enterprise password authentication (\"Аутентификация 1С:Предприятия\")"
	fixOneCRights = "give the infobase user (onec.user) a role that may read every object of the profile " +
		"and add, change and post its order documents"
)

func checkOneC(ctx context.Context, in Inputs, ls *lines) {
	base := displayURL(in.Config.OneC.BaseURL)
	if in.OneCErr != nil || in.OneC == nil {
		ls.fail("1C client", errText(in.OneCErr), "correct the onec.* keys named above")
		ls.skip("1C reachable, credentials, $metadata, reads", "the 1C client could not be built")
		return
	}
	md, err := in.OneC.FetchMetadata(ctx)
	if !oneCAnswered(err, base, ls) {
		return
	}
	if in.ProfileErr != nil || in.Profile == nil {
		ls.fail("1C profile", errText(in.ProfileErr),
			"correct onec.profile (a shipped profile: "+strings.Join(mapping.ShippedProfiles(), ", ")+
				"; or the path of a profile file) or the onec.* keys named above")
		ls.skip("1C $metadata, reads, maps", "the profile does not compile")
		return
	}
	prof := in.Profile
	broken := checkMetadata(md, prof, ls)

	jobs := in.Config.Jobs
	if jobs.Customers.Enabled {
		p := prof.Profile.Customers
		filter := p.Filter
		if p.Buyers == mapping.BuyersGroups {
			// The folders are resolved at run time; a sample of any item
			// that is not a folder serves the map as well.
			filter = and(filter, "IsFolder eq false")
		}
		sampleAndMap(ctx, in.OneC, ls, broken, sample{role: "customers.entity", entity: p.Entity, filter: filter,
			kind: "customers", fields: prof.Customers})
	} else {
		ls.skip("1C customers", "jobs.customers.enabled is false")
	}
	if jobs.Cards.Enabled {
		p := prof.Profile.Cards
		readOne(ctx, in.OneC, ls, broken, "cards.kinds_entity", p.KindsEntity, []string{"Ref_Key"})
		sampleAndMap(ctx, in.OneC, ls, broken, sample{role: "cards.entity", entity: p.Entity, filter: p.Filter,
			kind: "cards", fields: prof.Cards})
	} else {
		ls.skip("1C cards", "jobs.cards.enabled is false")
	}
	if jobs.Orders.Enabled {
		o := prof.Orders
		readOne(ctx, in.OneC, ls, broken, "orders.entity", o.Entity, []string{"Ref_Key"})
		readOne(ctx, in.OneC, ls, broken, "orders.items.entity", o.Items.Entity, []string{"Ref_Key"})
		if o.Counterparty.Entity != "" && prof.Order.Writes(mapping.ValueCounterparty) {
			readOne(ctx, in.OneC, ls, broken, "orders.counterparty.entity", o.Counterparty.Entity,
				[]string{"Ref_Key", o.Counterparty.By})
		}
		for i, m := range o.Items.Match {
			if m.Entity != "" {
				readOne(ctx, in.OneC, ls, broken, fmt.Sprintf("orders.items.match[%d].entity", i), m.Entity,
					[]string{m.Ref, m.Field})
			}
		}
	} else {
		ls.skip("1C orders", "jobs.orders.enabled is false")
	}
}

// oneCAnswered turns the $metadata request into the reachability and
// credential lines; false means nothing more can be checked in 1C.
func oneCAnswered(err error, base string, ls *lines) bool {
	const reach, creds = "1C reachable", "1C credentials"
	skip := func(why string) {
		ls.skip("1C $metadata, reads, maps", why)
	}
	var oe *onecapi.Error // nil unless 1C (or the web server) answered
	errors.As(err, &oe)
	switch {
	case err == nil:
		ls.ok(reach, "onec.base_url "+base+" serves an OData publication")
		ls.ok(creds, "onec.user was accepted and may read $metadata")
		return true
	case oe != nil && oe.Status == 401:
		ls.ok(reach, "onec.base_url "+base+" answers")
		ls.fail(creds, "HTTP 401: 1C refused the user name or password", fixOneCAuth)
		skip("1C refused the credentials")
		return false
	case onecapi.IsAuth(err): // the rights (403, code 20), the 401 being above
		ls.ok(reach, "onec.base_url "+base+" answers")
		ls.fail(creds, fmt.Sprintf("HTTP %d: the user was let in but may not read $metadata", oe.Status), fixOneCRights)
		skip("the user may not read $metadata")
		return false
	case oe != nil && oe.Status == 404:
		ls.fail(reach, "HTTP 404 at "+base+"/$metadata: no OData publication at this address", fixOneCURL)
	case oe != nil:
		ls.fail(reach, fmt.Sprintf("%s answers with an error: %v", base, oe),
			"1C or the web server in front of it fails: see the message, the 1C server's and the web server's logs; "+
				"if the address is wrong: "+fixOneCURL)
	case errors.Is(err, onecapi.ErrRedirect):
		ls.fail(reach, err.Error(), "set onec.base_url to the address the redirect points to "+
			"(virtsync never follows a redirect: it would carry the password elsewhere)")
	case isNetError(err):
		ls.fail(reach, "no answer from "+base+": "+err.Error(), fixOneCNet)
	default:
		ls.fail(reach, base+"/$metadata answers, but not with OData metadata: "+err.Error(), fixOneCURL)
	}
	skip("1C is not reachable at onec.base_url")
	return false
}

// checkMetadata checks the publication against what the profile reads and
// writes. It returns the entity sets with a problem, whose reads are
// skipped (they would fail for the reason already given).
func checkMetadata(md *onecapi.Metadata, prof *mapping.Compiled, ls *lines) map[string]bool {
	name := "1C $metadata (profile " + prof.Source + ")"
	problems := md.Check(prof.Needs())
	if len(problems) == 0 {
		ls.ok(name, "publishes every entity set and field the profile reads and writes, with fitting types")
		return nil
	}
	me := onecapi.NewMetadataError(problems)
	mapping.Hint(me, md.HasEntity, prof.Profile)
	broken := map[string]bool{}
	var detail []string
	for _, p := range me.Problems {
		detail = append(detail, "- "+p.String())
		broken[p.Entity] = true
	}
	var fix []string
	if me.Hint != "" {
		fix = append(fix, me.Hint)
	}
	if len(me.Missing) > 0 {
		fix = append(fix, "Or publish what is missing: as an administrator run "+
			"УстановитьСоставСтандартногоИнтерфейсаOData (SetStandardODataInterfaceContent) with the objects added, "+
			"or tick them in the \"Настройка стандартного интерфейса OData\" data processor.")
	}
	fix = append(fix, "A field of another name or type in this base: set it in the onec.* key named in brackets.")
	ls.fail(name, strings.Join(detail, "\n"), strings.Join(fix, "\n"))
	return broken
}

// sample is one set whose records are read and mapped.
type sample struct {
	role, entity, filter string
	kind                 string // customers, cards: the job, for names
	fields               *mapping.Map
}

// sampleAndMap reads a few live records of a set with the fields the job
// reads, and maps them as the job would, without the id map.
func sampleAndMap(ctx context.Context, oc OneC, ls *lines, broken map[string]bool, s sample) {
	readName, mapName := "1C read "+s.role, "1C map "+s.kind+".fields"
	if broken[s.entity] {
		ls.skip(readName, s.entity+" does not match the profile (see $metadata above)")
		ls.skip(mapName, "no records read")
		return
	}
	sel := withKeys(s.fields.Sources())
	var recs []onecapi.Entity
	err := oc.List(ctx, onecapi.Query{Entity: s.entity, Select: sel, Filter: and(s.filter, "DeletionMark eq false"),
		PageSize: sampleSize}, func(e onecapi.Entity) error {
		recs = append(recs, e)
		if len(recs) == sampleSize {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		readFailed(ls, readName, s.role, s.entity, err)
		ls.skip(mapName, "no records read")
		return
	}
	if len(recs) == 0 {
		ls.ok(readName, s.entity+": no records"+filterWords(s.filter)+
			" (with allowedOnly=true, rows the user may not see are left out)")
		ls.skip(mapName, "no records to map")
		return
	}
	ls.ok(readName, fmt.Sprintf("%s: %d record(s) read with allowedOnly=true", s.entity, len(recs)))

	mapper := &mapping.EntityMapper{Kind: s.kind, Fields: s.fields, OneC: oc}
	if len(s.fields.Lookups()) > 0 {
		if err := mapper.Prepare(ctx); err != nil {
			ls.fail(mapName, errText(err), lookupFix(err))
			return
		}
	}
	var failed []string
	params := map[string]bool{}
	ok, held := 0, 0
	for _, e := range recs {
		out, err := s.fields.ApplyLookup(mapping.Record(e), unresolved{}, mapper)
		var fe *mapping.FieldError
		var ue *mapping.UnresolvedError
		switch {
		case err == nil:
			ok++
			for p := range out {
				params[p] = true
			}
		case errors.As(err, &ue):
			held++ // a reference not synced yet: the run holds the record, it does not fail
		case errors.As(err, &fe):
			failed = append(failed, fmt.Sprintf("%s %s: %v", s.entity, e.Key(), fe))
		default:
			failed = append(failed, fmt.Sprintf("%s %s: %v", s.entity, e.Key(), err))
		}
	}
	names := slices.Sorted(maps.Keys(params))
	switch {
	case len(failed) == len(recs):
		ls.fail(mapName, fmt.Sprintf("every record read fails its map:\n%s", strings.Join(failed, "\n")),
			"correct onec."+s.kind+".fields.<param> named above: map it from a field that holds that kind of value, "+
				"change its `as`, or stop sending it with `<param>: ~`")
	case len(failed) > 0:
		ls.ok(mapName, fmt.Sprintf("%d of %d record(s) mapped (%s); these would go to the dead letters, "+
			"a problem of their data rather than of the map:\n%s",
			ok, len(recs), strings.Join(names, ", "), strings.Join(failed, "\n")))
	default:
		d := fmt.Sprintf("%d of %d record(s) mapped to %s", ok, len(recs), strings.Join(names, ", "))
		if held > 0 {
			d += fmt.Sprintf("; %d wait for a reference the id map resolves at run time", held)
		}
		ls.ok(mapName, d)
	}
}

// readOne reads one record of a set the orders or cards job reads.
func readOne(ctx context.Context, oc OneC, ls *lines, broken map[string]bool, role, entity string, sel []string) {
	name := "1C read " + role
	if entity == "" {
		return
	}
	if broken[entity] {
		ls.skip(name, entity+" does not match the profile (see $metadata above)")
		return
	}
	n := 0
	err := oc.List(ctx, onecapi.Query{Entity: entity, Select: sel, PageSize: 1}, func(onecapi.Entity) error {
		n++
		return errEnough
	})
	switch {
	case err != nil && !errors.Is(err, errEnough):
		readFailed(ls, name, role, entity, err)
	case n == 0:
		ls.ok(name, entity+": readable, no records (with allowedOnly=true, rows the user may not see are left out)")
	default:
		ls.ok(name, entity+": readable with allowedOnly=true")
	}
}

func readFailed(ls *lines, name, role, entity string, err error) {
	var oe *onecapi.Error
	errors.As(err, &oe)
	switch {
	case oe != nil && oe.Status == 401:
		ls.fail(name, entity+": "+answerText(oe), fixOneCAuth)
	case onecapi.IsAuth(err): // the rights: 403, code 20
		ls.fail(name, entity+": "+answerText(oe), "give the infobase user (onec.user) the right to read "+entity+
			" (a role with Чтение on it); reads send allowedOnly=true, so row-level restrictions only hide rows")
	case onecapi.IsNotFound(err):
		ls.fail(name, errText(err), "publish "+entity+" in the standard OData interface, or set onec."+role+
			" to the set this base has")
	default:
		ls.fail(name, errText(err), "see the message; a field or filter this base does not have is named by its onec.* key")
	}
}

func lookupFix(err error) string {
	if onecapi.IsAuth(err) {
		return fixOneCRights
	}
	return "the map reads this set through `lookup`: publish it, or set onec.cards.kinds_entity (or the spec's `entity`)"
}

// answerText is 1C's answer without the client's advice, which the line's
// fix gives in its own words.
func answerText(e *onecapi.Error) string {
	if e == nil {
		return "refused"
	}
	s := fmt.Sprintf("HTTP %d", e.Status)
	if e.Code != "" {
		s += " (code " + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// unresolved stands in for the id map, which the check does not open: no
// 1C reference is known to virtpos yet, so a ref falls back (to
// customer_external_id) or makes the record wait, as on a first run.
type unresolved struct{}

func (unresolved) Resolve(kind, ref string) (string, bool, error) { return "", false, nil }

// withKeys adds the fields every change-detecting read selects, as the
// jobs do.
func withKeys(fields []string) []string {
	out := []string{"Ref_Key", "DataVersion", "DeletionMark"}
	for _, f := range fields {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// and joins two $filter expressions.
func and(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return "(" + a + ") and " + b
}

func filterWords(filter string) string {
	if filter == "" {
		return ""
	}
	return " matching " + filter
}

// displayURL is u without credentials, query or fragment.
func displayURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(an unparseable URL)"
	}
	p.User, p.RawQuery, p.Fragment, p.ForceQuery = nil, "", "", false
	return strings.TrimRight(p.String(), "/")
}

// isNetError reports a failure before any HTTP answer.
func isNetError(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

func errText(err error) string {
	if err == nil {
		return "(no error given)"
	}
	return err.Error()
}
