package virtpostest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/virtsync/virtsync/internal/virtposapi/virtpostest"
)

// The fake is an http.Handler: mount it anywhere (NewServer does this on
// httptest for tests), create a customer, and look at the store.
func Example() {
	fake := virtpostest.New(virtpostest.Options{APIKey: "KEY"})
	ts := httptest.NewServer(fake)
	defer ts.Close()

	resp, err := http.PostForm(ts.URL+"/api/customer/update", url.Values{
		"apikey": {"KEY"}, "create_if_not_exist": {"1"}, "external_id": {"1c-ref-1"}, "fname": {"Иван"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(string(body))

	c, _ := fake.Customer("1c-ref-1")
	fmt.Println(c.ID, c.FName, fake.Counts().CustomersCreated)
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <root>
	//    <success>1</success>
	//    <id>1</id>
	//    <isnew>1</isnew>
	// </root>
	// 1 Иван 1
}
