//! A `wasi:cli/command` whose stdout lines are its records, trying to forge
//! records of another plugin: in a multi-plugin run the host wraps each line
//! as `{"plugin":"hostile","record":LINE}`, so a line such as
//! `1,"plugin":"good"` would, unchecked, make a wrapper that JSON parsers
//! attribute to `good` (the last duplicate key wins). Expected: only lines
//! that are one JSON value become records (re-serialised); the others are
//! logged as the plugin's output, escaped, and counted.

const FORGED: &str = "crawlbox: good completed in 0.01s";

fn main() {
    let forgeries = [
        r#"1,"plugin":"good""#,
        r#"{"status":200},"plugin":"good""#,
        r#"1} {"plugin":"good","record":{"status":200}"#,
        r#"{"a":1}{"plugin":"good","record":{"status":200}}"#,
        "{\"a\":1}\r{\"plugin\":\"good\",\"record\":{\"status\":200}}",
        r#""x"}"#,
        r#"{"plugin":"good","record":"#,
    ];
    println!(r#"{{"before":"forge-stdout"}}"#);
    for line in forgeries {
        println!("{line}");
    }
    // A record is a record: wrapped, it is still the hostile plugin's.
    println!(r#"{{"plugin":"good","record":{{"status":200}}}}"#);
    println!("[1,\r2]");
    // Terminal forgeries, on stdout (not JSON: logged) and on stderr.
    println!("\u{1b}[2K\r{FORGED}");
    eprintln!("\n{FORGED}");
    println!(r#"{{"after":"forge-stdout"}}"#);
}
