//! Body transforms: `jsonToXML` and `xmlToJson`, in WSO2's (Synapse's) mapping. A JSON object
//! becomes the children of the root element (an array repeats its element; a top-level array
//! is `<jsonArray><jsonElement>…`); XML comes back the same way: repeated children make an
//! array, attributes are `@name`, text beside children is `$`, and numbers and booleans in
//! text become JSON numbers and booleans (Synapse's `autoPrimitive`). Object members come
//! out in key order (serde_json's map), not in the order they were sent.

use quick_xml::events::Event;
use serde_json::{Map, Value};

/// Deepest element nesting read from an XML body.
const MAX_DEPTH: usize = 128;

/// `json` as an XML document under `root`.
pub fn json_to_xml(json: &[u8], root: &str) -> Result<Vec<u8>, String> {
    let value: Value =
        serde_json::from_slice(json).map_err(|e| format!("the body is not JSON: {e}"))?;
    let mut out = String::with_capacity(json.len() + 64);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    match &value {
        Value::Array(items) if root == "jsonObject" => {
            out.push_str("<jsonArray>");
            for item in items {
                element(&mut out, "jsonElement", item);
            }
            out.push_str("</jsonArray>");
        }
        _ => element(&mut out, root, &value),
    }
    Ok(out.into_bytes())
}

/// Writes `value` as the element(s) `name`: an array repeats the element.
fn element(out: &mut String, name: &str, value: &Value) {
    if let Value::Array(items) = value {
        for item in items {
            element(out, name, item);
        }
        return;
    }
    let name = xml_name(name);
    match value {
        Value::Null => {
            out.push('<');
            out.push_str(&name);
            out.push_str("/>");
        }
        Value::Object(map) => {
            out.push('<');
            out.push_str(&name);
            out.push('>');
            for (key, child) in map {
                element(out, key, child);
            }
            out.push_str("</");
            out.push_str(&name);
            out.push('>');
        }
        scalar => {
            out.push('<');
            out.push_str(&name);
            out.push('>');
            match scalar {
                Value::String(s) => escape(out, s),
                other => out.push_str(&other.to_string()),
            }
            out.push_str("</");
            out.push_str(&name);
            out.push('>');
        }
    }
}

/// A JSON key as an element name: characters a name cannot have become `_`, and a name that
/// cannot start as it does gets a leading `_`.
fn xml_name(key: &str) -> std::borrow::Cow<'_, str> {
    if gantry_model::policy_action::is_xml_name(key) {
        return key.into();
    }
    let mut name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        name.insert(0, '_');
    }
    name.into()
}

fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// An element being read: its attributes and children so far, and its text.
struct Open {
    name: String,
    fields: Map<String, Value>,
    text: String,
}

impl Open {
    fn new(name: String, fields: Map<String, Value>) -> Self {
        Self {
            name,
            fields,
            text: String::new(),
        }
    }

    /// The element's JSON value.
    fn close(mut self) -> Value {
        let text = self.text.trim();
        if self.fields.is_empty() {
            return if text.is_empty() {
                Value::Null
            } else {
                primitive(text)
            };
        }
        if !text.is_empty() {
            self.fields.insert("$".to_owned(), primitive(text));
        }
        Value::Object(self.fields)
    }

    fn add(&mut self, name: String, value: Value) {
        match self.fields.get_mut(&name) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                self.fields.insert(name, value);
            }
        }
    }
}

/// Text as Synapse's `autoPrimitive` reads it: numbers and booleans become JSON ones.
fn primitive(text: &str) -> Value {
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => {
            // serde_json's grammar is JSON's: no `+`, no leading zeros (`007` stays text).
            serde_json::from_str::<serde_json::Number>(text)
                .map_or_else(|_| Value::String(text.to_owned()), Value::Number)
        }
    }
}

/// `xml` as JSON: `<jsonObject>` and `<jsonArray>` roots give their content, any other root
/// `{"root": content}`.
pub fn xml_to_json(xml: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(xml).map_err(|_| "the body is not UTF-8 XML".to_owned())?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    let bad = |e: &dyn std::fmt::Display| format!("the body is not well-formed XML: {e}");
    loop {
        let event = reader.read_event().map_err(|e| bad(&e))?;
        match event {
            Event::Start(start) | Event::Empty(start) if root.is_some() => {
                let _ = start;
                return Err(bad(&"content after the root element"));
            }
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!(
                        "the XML body nests deeper than {MAX_DEPTH} elements"
                    ));
                }
                stack.push(Open::new(
                    start.name().as_ref().to_owned(),
                    attributes(&start).map_err(|e| bad(&e))?,
                ));
            }
            Event::Empty(start) => {
                let open = Open::new(
                    start.name().as_ref().to_owned(),
                    attributes(&start).map_err(|e| bad(&e))?,
                );
                let name = open.name.clone();
                let value = open.close();
                match stack.last_mut() {
                    Some(parent) => parent.add(name, value),
                    None => root = Some((name, value)),
                }
            }
            Event::End(_) => {
                let open = stack
                    .pop()
                    .ok_or_else(|| bad(&"an end tag without a start"))?;
                let name = open.name.clone();
                let value = open.close();
                match stack.last_mut() {
                    Some(parent) => parent.add(name, value),
                    None => root = Some((name, value)),
                }
            }
            Event::Text(t) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&t.xml10_content());
                } else if !t.trim().is_empty() {
                    return Err(bad(&"text outside the root element"));
                }
            }
            Event::CData(c) => {
                if let Some(open) = stack.last_mut() {
                    open.text.push_str(&c);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| bad(&e))? {
                    Some(c) => c,
                    None => match &*r {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(bad(&format!("unknown entity &{other};"))),
                    },
                };
                if let Some(open) = stack.last_mut() {
                    open.text.push(resolved);
                }
            }
            Event::DocType(_) => return Err("XML with a DOCTYPE is refused".to_owned()),
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(bad(&"the document ends inside an element"));
    }
    let (name, value) = root.ok_or_else(|| bad(&"no root element"))?;
    let json = match name.as_str() {
        "jsonObject" => match value {
            Value::Null => Value::Object(Map::new()),
            other => other,
        },
        "jsonArray" => match value {
            Value::Object(mut map) => match map.remove("jsonElement") {
                Some(Value::Array(items)) => Value::Array(items),
                Some(one) => Value::Array(vec![one]),
                None => Value::Array(Vec::new()),
            },
            _ => Value::Array(Vec::new()),
        },
        _ => {
            let mut map = Map::new();
            map.insert(name, value);
            Value::Object(map)
        }
    };
    serde_json::to_vec(&json).map_err(|e| e.to_string())
}

fn attributes(start: &quick_xml::events::BytesStart<'_>) -> Result<Map<String, Value>, String> {
    let mut fields = Map::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = attribute.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        fields.insert(format!("@{key}"), primitive(&value));
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn xml(json: Value, root: &str) -> String {
        String::from_utf8(json_to_xml(json.to_string().as_bytes(), root).unwrap()).unwrap()
    }

    fn back(xml: &str) -> Value {
        serde_json::from_slice(&xml_to_json(xml.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn json_becomes_wso2_shaped_xml_and_comes_back() {
        let doc =
            json!({"name": "Pizza & co", "qty": 2, "tags": ["a", "b"], "x": null, "ok": true});
        let out = xml(doc.clone(), "jsonObject");
        assert!(out.contains("<jsonObject><name>Pizza &amp; co</name><ok>true</ok><qty>2</qty><tags>a</tags><tags>b</tags><x/></jsonObject>"), "{out}");
        assert_eq!(back(&out), doc);
        assert_eq!(
            xml(json!([1, 2]), "jsonObject"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><jsonArray><jsonElement>1</jsonElement><jsonElement>2</jsonElement></jsonArray>"
        );
        assert_eq!(
            back("<jsonArray><jsonElement>1</jsonElement><jsonElement>2</jsonElement></jsonArray>"),
            json!([1, 2])
        );
        assert!(xml(json!({"1 bad": 1}), "order").contains("<order><_1_bad>1</_1_bad></order>"));
    }

    #[test]
    fn xml_attributes_text_and_entities_are_read() {
        assert_eq!(
            back(
                "<?xml version=\"1.0\"?><order id=\"7\"><item>a&lt;b</item><item>c</item><zip>007</zip><n>1.5</n></order>"
            ),
            json!({"order": {"@id": 7, "item": ["a<b", "c"], "zip": "007", "n": 1.5}})
        );
        assert!(xml_to_json(b"<a><b></a>").is_err());
        assert!(xml_to_json(b"not xml").is_err());
        assert!(xml_to_json(b"<!DOCTYPE x [<!ENTITY e \"boom\">]><x>&e;</x>").is_err());
        assert!(json_to_xml(b"{", "jsonObject").is_err());
    }
}
