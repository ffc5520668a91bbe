package onecapi_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

const (
	fakeUser     = "sync"
	fakePassword = "фальшивый-пароль-9"
)

func startFake(t *testing.T, pageSize int) (*onectest.Server, *onecapi.Client) {
	t.Helper()
	fake, base := onectest.StartTest(t, onectest.Options{User: fakeUser, Password: fakePassword}, onectest.DemoSeed(120, 40, 3, 7))
	c, err := onecapi.New(onecapi.Config{
		BaseURL: base, User: fakeUser, Password: fakePassword, PageSize: pageSize, MinPageSize: 5,
		Retry: onecapi.Retry{MaxAttempts: 6, Initial: time.Millisecond, Max: 10 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return fake, c
}

func TestFakeChanges(t *testing.T) {
	fake, c := startFake(t, 50)
	fake.SetMaxPage(20) // pages above 20 fail with 500: the client must shrink
	q := onecapi.ChangeQuery{Entity: onectest.SetPartners, Filter: "Клиент eq true",
		Select: []string{"Description", "КонтактнаяИнформация"}}

	first, err := c.Changes(t.Context(), q, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := fake.All(onectest.SetPartners)
	if len(first.Records) == 0 || len(first.Versions) != len(first.Records) {
		t.Fatalf("first run: %d records, %d versions (fake holds %d)", len(first.Records), len(first.Versions), len(all))
	}
	if len(first.Deleted) != 0 {
		t.Fatalf("first run deleted %v", first.Deleted)
	}

	// Writers in 1C between runs.
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range first.Versions {
			if !yield(k) {
				return
			}
		}
	})
	changed, marked, gone := keys[0], keys[1], keys[2]
	if _, err := fake.Update(onectest.SetPartners, changed, onectest.Object{"Description": "Сидоров Пётр Ильич"}); err != nil {
		t.Fatal(err)
	}
	if err := fake.SoftDelete(onectest.SetPartners, marked); err != nil {
		t.Fatal(err)
	}
	if err := fake.Delete(onectest.SetPartners, gone); err != nil {
		t.Fatal(err)
	}
	added, err := fake.Put(onectest.SetPartners, onectest.Object{"Description": "Новая Клиентка", "Клиент": true})
	if err != nil {
		t.Fatal(err)
	}
	addedKey, _ := added["Ref_Key"].(string)
	fake.RepeatNextPage() // a duplicated page must not duplicate records

	second, err := c.Changes(t.Context(), q, first.Versions)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range second.Records {
		got = append(got, e.Key())
		if e.Key() == changed && e.String("Description") != "Сидоров Пётр Ильич" {
			t.Errorf("changed record has %q", e.String("Description"))
		}
	}
	slices.Sort(got)
	want := []string{changed, marked, addedKey}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}
	if !slices.Equal(second.Marked, []string{marked}) || !slices.Equal(second.Deleted, []string{gone}) {
		t.Errorf("marked %v deleted %v", second.Marked, second.Deleted)
	}

	third, err := c.Changes(t.Context(), q, second.Versions)
	if err != nil {
		t.Fatal(err)
	}
	if len(third.Records)+len(third.Deleted) != 0 {
		t.Errorf("a quiet run found %d records, %d deletions", len(third.Records), len(third.Deleted))
	}
}

func TestFakeOrderWrites(t *testing.T) {
	fake, c := startFake(t, 100)
	ctx := t.Context()
	const marker = "vp-order-0001"
	body := map[string]any{"Date": "2026-06-07T10:14:42", "НомерПоДаннымКлиента": marker, "Комментарий": "Заказ с сайта, доставка до 18:00"}

	fake.ResetAfterNextWrites(1) // saved, but the answer is lost
	_, err := c.Create(ctx, onectest.SetOrders, body)
	if !errors.Is(err, onecapi.ErrOutcomeUnknown) {
		t.Fatalf("create after reset: %v, want ErrOutcomeUnknown", err)
	}
	if strings.Contains(err.Error(), fakePassword) {
		t.Fatal("password leaked")
	}
	if n := fake.Writes(onectest.SetOrders); n != 1 {
		t.Fatalf("writes = %d, the client must not repeat a create", n)
	}
	doc, ok, err := c.FindByField(ctx, onectest.SetOrders, "НомерПоДаннымКлиента", marker)
	if err != nil || !ok {
		t.Fatalf("find: %v %v", ok, err)
	}
	if doc.String("Комментарий") != body["Комментарий"] || doc.String("Number") == "" {
		t.Fatalf("found %v", doc)
	}
	if _, ok, err := c.FindByField(ctx, onectest.SetOrders, "НомерПоДаннымКлиента", "vp-'нет'"); ok || err != nil {
		t.Fatalf("find of a missing marker: %v %v", ok, err)
	}

	upd, err := c.Update(ctx, onectest.SetOrders, doc.Key(), doc.DataVersion(), map[string]any{"Комментарий": "Оплачен"})
	if err != nil {
		t.Fatal(err)
	}
	if upd.String("Комментарий") != "Оплачен" || upd.DataVersion() == doc.DataVersion() {
		t.Fatalf("update answer %v", upd)
	}
	if _, err := c.Update(ctx, onectest.SetOrders, doc.Key(), doc.DataVersion(), map[string]any{"Комментарий": "x"}); !onecapi.IsConflict(err) {
		t.Fatalf("stale If-Match: %v, want conflict", err)
	}

	fake.FailNextPosts(1)
	if err := c.Post(ctx, onectest.SetOrders, doc.Key()); !onecapi.IsPostingFailed(err) {
		t.Fatalf("post: %v, want posting failure", err)
	}
	if err := c.Post(ctx, onectest.SetOrders, doc.Key()); err != nil {
		t.Fatalf("post again: %v", err)
	}
	if got, _ := fake.Get(onectest.SetOrders, doc.Key()); got["Posted"] != true {
		t.Fatalf("Posted = %v", got["Posted"])
	}

	created, err := c.Create(ctx, onectest.SetOrders, map[string]any{"Date": "2026-06-07T11:00:00", "НомерПоДаннымКлиента": "vp-order-0002"})
	if err != nil {
		t.Fatal(err)
	}
	if created.Key() == "" || created.String("Number") == "" {
		t.Fatalf("create answer %v", created)
	}
}

func TestFakeErrorsAndMetadata(t *testing.T) {
	fake, c := startFake(t, 100)
	ctx := t.Context()

	fake.ExceptionOnNext(1)
	_, err := c.Count(ctx, onectest.SetPartners, "")
	var e *onecapi.Error
	if !errors.As(err, &e) || e.Status != 403 || !strings.Contains(e.Message, "Недостаточно прав") {
		t.Fatalf("#exception: %v", err)
	}
	if _, err := c.Update(ctx, onectest.SetOrders, "00000000-0000-0000-0000-0000000000aa", "", map[string]any{"Комментарий": "x"}); !onecapi.IsNotFound(err) {
		t.Fatalf("update of a missing document: %v, want not found", err)
	}

	n, err := c.Count(ctx, onectest.SetPartners, "Клиент eq true")
	if err != nil || n == 0 {
		t.Fatalf("count = %d, %v", n, err)
	}

	var ok []onecapi.Need
	for _, f := range []string{"Description", "Пол", "КонтактнаяИнформация.Тип", "КонтактнаяИнформация.НомерТелефона"} {
		ok = append(ok, onecapi.Need{Entity: onectest.SetPartners, Field: f, Type: onecapi.TypeString})
	}
	ok = append(ok, onecapi.Need{Entity: onectest.SetPartners, Field: "ДатаРождения", Type: onecapi.TypeDateTime},
		onecapi.Need{Entity: onectest.SetOrders, Field: "НомерПоДаннымКлиента", Type: onecapi.TypeString},
		onecapi.Need{Entity: onectest.SetOrders, Field: "Товары.Номенклатура_Key", Type: onecapi.TypeGUID},
		onecapi.Need{Entity: onectest.SetOrders, Field: "Товары.Количество", Type: onecapi.TypeNumber})
	if _, err := c.CheckMetadata(ctx, ok); err != nil {
		t.Fatalf("metadata: %v", err)
	}
	bad := []onecapi.Need{{Entity: onectest.SetPartners, Field: "Несуществующее"}, {Entity: "Catalog_ДисконтныеКарты", Field: "КодКарты"}}
	var me *onecapi.MetadataError
	if _, err := c.CheckMetadata(ctx, bad); !errors.As(err, &me) || len(me.Missing) != 2 {
		t.Fatalf("metadata check: %v", err)
	}
}

// TestFakeChangesUnderChurnAndPageErrors: users keep working in 1C during
// every sweep (records changed, inserted, deleted between pages) and
// workers crash on some pages. No run may report a live record deleted,
// and once the churn stops one more run agrees with 1C exactly.
func TestFakeChangesUnderChurnAndPageErrors(t *testing.T) {
	fake, c := startFake(t, 10)
	if err := fake.SetFaults(onectest.Faults{Seed: 3, PageErrorRate: 0.2, ChurnRate: 0.3}); err != nil {
		t.Fatal(err)
	}
	q := onecapi.ChangeQuery{Entity: onectest.SetPartners, Select: []string{"Description"}}
	var seen map[string]string
	ok, failed := 0, 0
	for range 8 {
		cs, err := c.Changes(t.Context(), q, seen)
		if err != nil {
			failed++
			continue
		}
		ok++
		for _, k := range cs.Deleted {
			if _, live := fake.Get(onectest.SetPartners, k); live {
				t.Fatalf("run %d reported %s deleted, but it is in 1C", ok, k)
			}
		}
		seen = cs.Versions
	}
	if ok == 0 {
		t.Fatalf("no sweep succeeded in 8 (%d failed)", failed)
	}
	fake.ClearFaults()
	cs, err := c.Changes(t.Context(), q, seen)
	if err != nil {
		t.Fatal(err)
	}
	truth := map[string]string{}
	for _, o := range fake.All(onectest.SetPartners) {
		truth[o["Ref_Key"].(string)] = o["DataVersion"].(string)
	}
	if len(cs.Versions) != len(truth) {
		t.Fatalf("versions hold %d keys, 1C %d", len(cs.Versions), len(truth))
	}
	for k, v := range truth {
		if cs.Versions[k] != v {
			t.Fatalf("key %s: version %q, 1C has %q", k, cs.Versions[k], v)
		}
	}
	t.Logf("%d sweeps under churn succeeded, %d failed", ok, failed)
}

// TestFakeIgnoringSkipStopsTheSweep: against the fake publication that
// ignores $skip, a sweep stops at its second page with a clear error.
func TestFakeIgnoringSkipStopsTheSweep(t *testing.T) {
	fake, c := startFake(t, 10)
	if err := fake.SetFaults(onectest.Faults{IgnoreSkip: true}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Sweep(t.Context(), onectest.SetPartners, "")
	var pe *onecapi.PagingError
	if !errors.As(err, &pe) || pe.Skip != 10 || !strings.Contains(err.Error(), "seems to ignore $skip") {
		t.Fatalf("err = %v, want a *PagingError at $skip=10", err)
	}
	if n := fake.Requests("GET", onectest.SetPartners); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}
