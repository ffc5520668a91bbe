package onectest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/virtsync/virtsync/internal/onecapi/onectest"
)

// A fake 1C with the demo base, queried the way the virtsync reader does:
// Basic auth, $format=json, Cyrillic names percent-encoded, spaces as %20.
func Example() {
	fake := onectest.New(onectest.Options{User: "sync", Password: "pw"})
	if err := fake.Load(onectest.DemoSeed(10, 5, 3, 1)); err != nil {
		panic(err)
	}
	hs := httptest.NewServer(fake)
	defer hs.Close()

	u := hs.URL + onectest.PublicationPath + url.PathEscape(onectest.SetItems) +
		"?$format=json&$select=Code&$filter=Code%20eq%20'1003'"
	req, _ := http.NewRequest("GET", u, nil)
	req.SetBasicAuth("sync", "pw")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	_, tail, _ := strings.Cut(string(body), "$metadata")
	fmt.Println(res.StatusCode, tail)
	fmt.Println(fake.Requests("GET", onectest.SetItems))
	// Output:
	// 200 #Catalog_Номенклатура","value":[{"Code":"1003"}]}
	// 1
}
