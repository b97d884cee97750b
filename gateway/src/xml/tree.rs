//! A small element tree for the configuration bodies (versioning, tagging,
//! Object Lock, lifecycle), and the few helpers their writers share.
//!
//! Why not serde: these bodies must refuse what S3's schema refuses
//! (unknown elements, a repeated element, text where elements belong) and
//! answer each fault with S3's own code, which needs the document in hand
//! before anything is typed. The tree is that document, with nothing else:
//!
//! - elements are known by their local name: a namespace prefix and every
//!   attribute (`xmlns`, `xmlns:xsi`, ...) are read for well-formedness and
//!   otherwise ignored, so a body with or without S3's namespace reads the
//!   same;
//! - text is kept exactly as sent (tag keys may start with a space), after
//!   XML 1.0 line-end normalisation; the five predefined entities and
//!   character references are resolved; any other entity, and any
//!   `<!DOCTYPE>`, is `MalformedXML` (no entity expansion, no external
//!   entity);
//! - an element holds either child elements or text, never both (white
//!   space between children is formatting and dropped);
//! - nesting deeper than [`MAX_DEPTH`] is refused: these documents are at
//!   most six levels deep, and the bound keeps hostile input cheap.
//!
//! The caller bounds the body's size (`limits::MAX_XML_BODY`) before
//! parsing; the parse is linear in it.

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{push_escaped, ErrorCode, S3Error, S3Result};

use super::{DECLARATION, S3_NAMESPACE};

/// Deepest nesting accepted. The deepest body (lifecycle:
/// `LifecycleConfiguration/Rule/Filter/And/Tag/Key`) has six levels.
pub const MAX_DEPTH: usize = 16;

/// `MalformedXML` with S3's message.
pub fn malformed() -> S3Error {
    S3Error::new(ErrorCode::MalformedXML)
}

/// One element: its local name, and either its children or its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub children: Vec<Element>,
    pub text: String,
}

/// Parses `body` into its root element, which must be named `root`.
pub fn parse(body: &[u8], root: &str) -> S3Result<Element> {
    let doc = parse_any(body)?;
    if doc.name != root {
        return Err(malformed());
    }
    Ok(doc)
}

/// Parses `body` into its root element, whatever its name.
pub fn parse_any(body: &[u8]) -> S3Result<Element> {
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|_| malformed())?;
        match event {
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::DocType(_) => return Err(malformed()),
            Event::Start(start) => open(&mut stack, &root, &start)?,
            Event::Empty(start) => {
                open(&mut stack, &root, &start)?;
                close(&mut stack, &mut root)?;
            }
            Event::End(_) => close(&mut stack, &mut root)?,
            Event::Text(t) => {
                let content = t.xml10_content().map_err(|_| malformed())?;
                push_text(&mut stack, &content)?;
            }
            Event::CData(c) => {
                let content = std::str::from_utf8(&c).map_err(|_| malformed())?;
                push_text(&mut stack, content)?;
            }
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(|_| malformed())? {
                    Some(c) => c,
                    None => match &*r {
                        b"amp" => '&',
                        b"lt" => '<',
                        b"gt" => '>',
                        b"apos" => '\'',
                        b"quot" => '"',
                        _ => return Err(malformed()),
                    },
                };
                push_text(&mut stack, c.encode_utf8(&mut [0; 4]))?;
            }
            Event::Eof => break,
        }
    }
    match root {
        Some(root) if stack.is_empty() => Ok(root),
        _ => Err(malformed()),
    }
}

fn open(
    stack: &mut Vec<Element>,
    root: &Option<Element>,
    start: &quick_xml::events::BytesStart<'_>,
) -> S3Result<()> {
    if root.is_some() || stack.len() >= MAX_DEPTH {
        return Err(malformed());
    }
    for attribute in start.attributes() {
        attribute.map_err(|_| malformed())?;
    }
    let name = std::str::from_utf8(start.local_name().into_inner())
        .map_err(|_| malformed())?
        .to_string();
    stack.push(Element {
        name,
        ..Element::default()
    });
    Ok(())
}

fn close(stack: &mut Vec<Element>, root: &mut Option<Element>) -> S3Result<()> {
    let mut done = stack.pop().ok_or_else(malformed)?;
    if !done.children.is_empty() {
        // Mixed content: text between child elements must be formatting.
        if !done.text.chars().all(char::is_whitespace) {
            return Err(malformed());
        }
        done.text.clear();
    }
    match stack.last_mut() {
        Some(parent) => parent.children.push(done),
        None => *root = Some(done),
    }
    Ok(())
}

fn push_text(stack: &mut [Element], text: &str) -> S3Result<()> {
    match stack.last_mut() {
        Some(element) => element.text.push_str(text),
        // Outside the root only white space may appear.
        None if text.chars().all(char::is_whitespace) => {}
        None => return Err(malformed()),
    }
    Ok(())
}

impl Element {
    /// Refuses any child element not named in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> S3Result<()> {
        if self
            .children
            .iter()
            .all(|c| allowed.contains(&c.name.as_str()))
        {
            Ok(())
        } else {
            Err(malformed())
        }
    }

    /// The child named `name`, if there is one; two are `MalformedXML`.
    pub fn child<'a>(&'a self, name: &'a str) -> S3Result<Option<&'a Element>> {
        let mut found = self.children_named(name);
        let first = found.next();
        if found.next().is_some() {
            return Err(malformed());
        }
        Ok(first)
    }

    /// The one child named `name`; none or two are `MalformedXML`.
    pub fn required<'a>(&'a self, name: &'a str) -> S3Result<&'a Element> {
        self.child(name)?.ok_or_else(malformed)
    }

    /// Every child named `name`, in document order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of an element that must hold no element.
    pub fn leaf(&self) -> S3Result<&str> {
        if self.children.is_empty() {
            Ok(&self.text)
        } else {
            Err(malformed())
        }
    }

    /// An XML Schema integer (`int`, `long`): optional sign and decimal
    /// digits, surrounding white space allowed. Anything else, or a value
    /// beyond `i64`, is `MalformedXML`.
    pub fn integer(&self) -> S3Result<i64> {
        let text = self.leaf()?.trim();
        let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        text.parse().map_err(|_| malformed())
    }

    /// An XML Schema boolean: `true`, `false`, `1` or `0`.
    pub fn boolean(&self) -> S3Result<bool> {
        match self.leaf()?.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(malformed()),
        }
    }
}

/// Starts an answer: the declaration and the root element in S3's
/// namespace, left open.
pub fn open_root(out: &mut String, name: &str) {
    out.push_str(DECLARATION);
    out.push('<');
    out.push_str(name);
    out.push_str(" xmlns=\"");
    out.push_str(S3_NAMESPACE);
    out.push_str("\">");
}

/// An empty root element in S3's namespace, with the declaration.
pub fn empty_root(name: &str) -> String {
    format!("{DECLARATION}<{name} xmlns=\"{S3_NAMESPACE}\"/>")
}

/// `<name>text</name>`, the text escaped.
pub fn push_leaf(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_escaped(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// `</name>`.
pub fn push_close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &[u8]) -> Option<ErrorCode> {
        parse_any(body).err().map(|e| e.code)
    }

    #[test]
    fn namespaces_prefixes_and_attributes_are_ignored() {
        let doc = parse(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<s3:A xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/" xmlns:xsi="x"><s3:B k='v'>t</s3:B>
  <C/><!-- note --></s3:A>"#,
            "A",
        )
        .unwrap();
        assert_eq!(doc.children.len(), 2);
        assert_eq!(doc.child("B").unwrap().unwrap().leaf().unwrap(), "t");
        assert_eq!(doc.child("C").unwrap().unwrap().leaf().unwrap(), "");
        assert!(doc.text.is_empty());
        assert_eq!(
            parse(b"<B/>", "A").unwrap_err().code,
            ErrorCode::MalformedXML
        );
    }

    #[test]
    fn text_is_kept_and_references_resolved() {
        let doc = parse_any(b"<A> a &amp; &lt;&#x41;&#66;<![CDATA[<c>]]>\r\n</A>").unwrap();
        assert_eq!(doc.text, " a & <AB<c>\n");
    }

    #[test]
    fn structural_faults_are_malformed() {
        for bad in [
            &b""[..],
            b"<A>",
            b"<A></B>",
            b"<A/><B/>",
            b"<A>x<B/></A>",
            b"x<A/>",
            b"<A>&foo;</A>",
            b"<!DOCTYPE A [<!ENTITY e \"e\">]><A>&e;</A>",
            b"<A b=\"1\" b=\"2\"/>",
            b"<A b/>",
            b"\xff<A/>",
            b"<A>&#0;</A>",
        ] {
            assert_eq!(
                code(bad),
                Some(ErrorCode::MalformedXML),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(code(deep.as_bytes()), Some(ErrorCode::MalformedXML));
        let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
        assert_eq!(code(ok.as_bytes()), None);
    }

    #[test]
    fn children_and_values() {
        let doc = parse_any(b"<A><N> +42 </N><N>1</N><T>true</T><F>0</F><X>4x</X></A>").unwrap();
        assert_eq!(doc.child("N").unwrap_err().code, ErrorCode::MalformedXML);
        assert_eq!(doc.children_named("N").count(), 2);
        assert_eq!(doc.children[0].integer().unwrap(), 42);
        assert!(doc.required("T").unwrap().boolean().unwrap());
        assert!(!doc.required("F").unwrap().boolean().unwrap());
        // Every refusal here is the one MalformedXML (no other code can come).
        let malformed = Some(ErrorCode::MalformedXML);
        assert_eq!(
            doc.required("X").unwrap().integer().err().map(|e| e.code),
            malformed
        );
        assert_eq!(doc.required("Missing").err().map(|e| e.code), malformed);
        assert!(doc.child("Missing").unwrap().is_none());
        assert!(doc.only(&["N", "T", "F", "X"]).is_ok());
        assert_eq!(doc.only(&["N", "T", "F"]).err().map(|e| e.code), malformed);
        assert_eq!(doc.leaf().err().map(|e| e.code), malformed);
        let big = parse_any(b"<N>99999999999999999999</N>").unwrap();
        assert_eq!(big.integer().err().map(|e| e.code), malformed);
    }

    #[test]
    fn writers_escape_and_namespace() {
        let mut out = String::new();
        open_root(&mut out, "R");
        push_leaf(&mut out, "K", "a<&>");
        push_close(&mut out, "R");
        assert_eq!(
            out,
            format!("{DECLARATION}<R xmlns=\"{S3_NAMESPACE}\"><K>a&lt;&amp;&gt;</K></R>")
        );
        assert!(empty_root("V").ends_with("<V xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>"));
    }
}
