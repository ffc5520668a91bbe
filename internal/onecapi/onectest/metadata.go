package onectest

import (
	"bytes"
	"encoding/xml"
)

// metadataXML renders the EDMX the way 1C 8.3/8.5 does (namespace
// StandardODATA, attributes on their own lines): an EntityType per set and
// per tabular section, a ComplexType <Set>_<Section>_RowType per section,
// EntitySets, and the Post/Unpost functions of documents.
func (s *Server) metadataXML() []byte {
	var b bytes.Buffer
	esc := func(v string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(v)) // writing to a bytes.Buffer cannot fail
		return e.String()
	}
	prop := func(indent string, f field, nullable bool) {
		n := "true"
		if !nullable {
			n = "false"
		}
		b.WriteString(indent + `<Property Name="` + esc(f.Name) + `"` + "\n" +
			indent + "\t\t" + `Type="` + string(f.Type) + `"` + "\n" +
			indent + "\t\t" + `Nullable="` + n + `"/>` + "\n")
	}
	collection := func(set string, t tabular) field {
		return field{Name: t.Name, Type: edmType("Collection(StandardODATA." + set + "_" + t.Name + "_RowType)")}
	}
	keyRefs := func(names ...string) {
		b.WriteString("\t\t\t\t<Key>\n")
		for _, n := range names {
			b.WriteString("\t\t\t\t\t<PropertyRef Name=\"" + n + "\"/>\n")
		}
		b.WriteString("\t\t\t\t</Key>\n")
	}
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<edmx:Edmx xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"
		Version="1.0">
	<edmx:DataServices xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"
			m:DataServiceVersion="3.0"
			m:MaxDataServiceVersion="3.0">
		<Schema xmlns="http://schemas.microsoft.com/ado/2009/11/edm"
				Namespace="StandardODATA">
`)
	for _, t := range s.types {
		b.WriteString("\t\t\t<EntityType Name=\"" + esc(t.Name) + "\">\n")
		keyRefs("Ref_Key")
		for _, f := range t.Fields {
			prop("\t\t\t\t", f, f.Name != "Ref_Key")
		}
		for _, tab := range t.Tabs {
			prop("\t\t\t\t", collection(t.Name, tab), true)
		}
		b.WriteString("\t\t\t</EntityType>\n")
		for _, tab := range t.Tabs {
			b.WriteString("\t\t\t<EntityType Name=\"" + esc(t.Name+"_"+tab.Name) + "\">\n")
			keyRefs("Ref_Key", "LineNumber")
			for _, f := range rowFields(&tab) {
				prop("\t\t\t\t", f, f.Name != "Ref_Key" && f.Name != "LineNumber")
			}
			b.WriteString("\t\t\t</EntityType>\n")
		}
	}
	for _, t := range s.types {
		for _, tab := range t.Tabs {
			b.WriteString("\t\t\t<ComplexType Name=\"" + esc(t.Name+"_"+tab.Name+"_RowType") + "\">\n")
			for _, f := range rowFields(&tab) {
				prop("\t\t\t\t", f, f.Name != "Ref_Key" && f.Name != "LineNumber")
			}
			b.WriteString("\t\t\t</ComplexType>\n")
		}
	}
	b.WriteString("\t\t\t<EntityContainer Name=\"EnterpriseV8\"\n\t\t\t\t\tm:IsDefaultEntityContainer=\"true\">\n")
	entitySet := func(name string) {
		b.WriteString("\t\t\t\t<EntitySet Name=\"" + esc(name) + "\"\n\t\t\t\t\t\tEntityType=\"StandardODATA." + esc(name) + "\"/>\n")
	}
	for _, t := range s.types {
		entitySet(t.Name)
		for _, tab := range t.Tabs {
			entitySet(t.Name + "_" + tab.Name)
		}
	}
	for _, t := range s.types {
		if !t.Document {
			continue
		}
		for _, fn := range []string{"Post", "Unpost"} {
			b.WriteString("\t\t\t\t<FunctionImport Name=\"" + fn + "\"\n\t\t\t\t\t\tIsBindable=\"true\"\n\t\t\t\t\t\tIsSideEffecting=\"true\">\n" +
				"\t\t\t\t\t<Parameter Name=\"bindingParameter\"\n\t\t\t\t\t\t\tType=\"StandardODATA." + esc(t.Name) + "\"/>\n" +
				"\t\t\t\t\t<Parameter Name=\"PostingModeOperational\"\n\t\t\t\t\t\t\tType=\"Edm.Boolean\"/>\n" +
				"\t\t\t\t</FunctionImport>\n")
		}
	}
	b.WriteString("\t\t\t</EntityContainer>\n\t\t</Schema>\n\t</edmx:DataServices>\n</edmx:Edmx>")
	return b.Bytes()
}
