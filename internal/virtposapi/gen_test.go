package virtposapi

import (
	"bufio"
	"fmt"
	"io"
)

// writeOrders writes n synthetic orders (two items each, seed-like values)
// in the given format, the way virtpos lays them out.
func writeOrders(w io.Writer, format string, n int) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if format == "xml" {
		bw.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<root>\n   <success>1</success>\n")
	} else {
		bw.WriteString(`{"success":1,"orders":[`)
	}
	for i := 0; i < n; i++ {
		if format == "xml" {
			fmt.Fprintf(bw, `   <orders>
      <paid>%d</paid>
      <customer_id>%d</customer_id>
      <shipped>0</shipped>
      <cancelled>0</cancelled>
      <shipping_address>Дом %d, корпус 5</shipping_address>
      <shipping_cost>130.00</shipping_cost>
      <pickup_receipt_id />
      <comment>После шести</comment>
      <guid>g-%08d</guid>
      <created_date>2026-11-24 18:45:08</created_date>
      <amount>976.59</amount>
      <discount>10.20</discount>
      <pickup_from_warehouse_id>2</pickup_from_warehouse_id>
      <pickup_from_warehouse_name>Просвещения проспект</pickup_from_warehouse_name>
      <delivery_type_id>1</delivery_type_id>
      <delivery_type_name>Самовывоз</delivery_type_name>
      <payment_type_id>1</payment_type_id>
      <payment_type_name>Оплата при получении</payment_type_name>
      <items>
         <item_id>789</item_id>
         <item_name>Коньяк "Анри" 3-летний 40,0%% 0,5л</item_name>
         <image />
         <quantity>3.450</quantity>
         <unit_base_price>100.10</unit_base_price>
         <discount>10.20</discount>
         <amount>335.15</amount>
         <item_id>787</item_id>
         <item_name>Коньяк 3-летний 40%% 0.5 л.</item_name>
         <image />
         <quantity>2.000</quantity>
         <unit_base_price>320.72</unit_base_price>
         <discount>0.00</discount>
         <amount>641.44</amount>
      </items>
   </orders>
`, i%2, i%5000, i, i)
		} else {
			if i > 0 {
				bw.WriteByte(',')
			}
			fmt.Fprintf(bw, `{"paid":"%d","customer_id":"%d","shipped":"0","cancelled":0,"shipping_address":"Дом %d, корпус 5","shipping_cost":"130.00","pickup_receipt_id":"","comment":"После шести","guid":"g-%08d","created_date":"2026-11-24 18:45:08","amount":"976.59","discount":"10.20","pickup_from_warehouse_id":"2","pickup_from_warehouse_name":"Просвещения проспект","delivery_type_id":"1","delivery_type_name":"Самовывоз","payment_type_id":"1","payment_type_name":"Оплата при получении","items":[{"item_id":"789","item_name":"Коньяк \"Анри\" 3-летний 40,0%% 0,5л","image":"","quantity":"3.450","unit_base_price":"100.10","discount":"10.20","amount":"335.15"},{"item_id":"787","item_name":"Коньяк 3-летний 40%% 0.5 л.","image":null,"quantity":2.000,"unit_base_price":320.72,"discount":0,"amount":"641.44"}]}`+"\n",
				i%2, i%5000, i, i)
		}
	}
	if format == "xml" {
		bw.WriteString("</root>\n")
	} else {
		bw.WriteString("]}\n")
	}
	return bw.Flush()
}

// ordersReader streams n generated orders without holding them.
func ordersReader(format string, n int) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeOrders(pw, format, n)) }()
	return pr
}
