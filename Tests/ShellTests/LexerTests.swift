import XCTest

@testable import FlrShell

final class LexerTests: XCTestCase {
  private func words(_ text: String, arguments: [String] = []) throws -> [[String]] {
    try Lexer.statements(text, arguments: arguments).map { $0.words.map(\.text) }
  }

  private func lexError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ShellError? {
    do {
      _ = try Lexer.statements(text)
      XCTFail("expected a lexical error for \(text)", file: file, line: line)
      return nil
    } catch let error as ShellError {
      return error
    } catch {
      XCTFail("unexpected error \(error)", file: file, line: line)
      return nil
    }
  }

  func testWordsSemicolonsNewlinesAndComments() throws {
    XCTAssertEqual(
      try words("load a;caption  b\tc # note\n\n# whole line\nshow"),
      [["load", "a"], ["caption", "b", "c"], ["show"]])
    XCTAssertEqual(try words("echo a#b"), [["echo", "a#b"]], "# inside a word is not a comment")
    XCTAssertEqual(try words(" ; ;\n"), [])
  }

  func testQuotesAndEscapes() throws {
    XCTAssertEqual(try words(#"echo "a b" 'c d' e\ f"#), [["echo", "a b", "c d", "e f"]])
    XCTAssertEqual(try words(#"echo "say \"hi\"\n\t\\ \$1""#), [["echo", "say \"hi\"\n\t\\ $1"]])
    XCTAssertEqual(try words(#"echo 'no \n escapes'"#), [["echo", #"no \n escapes"#]])
    XCTAssertEqual(try words(#"echo "a;b" 'c#d' e\;f"#), [["echo", "a;b", "c#d", "e;f"]])
    XCTAssertEqual(try words(#"echo "" ''"#), [["echo", "", ""]])
    XCTAssertEqual(try words("echo ab\"cd\"'ef'"), [["echo", "abcdef"]], "adjacent pieces join")
  }

  func testLineContinuation() throws {
    XCTAssertEqual(try words("caption a \\\n  beams=1\nshow"), [["caption", "a", "beams=1"], ["show"]])
  }

  func testKeyValueDetection() throws {
    let statement = try XCTUnwrap(Lexer.statements(#"caption x prompt="a = b" "k=v" k\=v 1x=2 _k2= =v"#).first)
    let keys = statement.words.map(\.key)
    XCTAssertEqual(keys, [nil, nil, "prompt", nil, nil, nil, "_k2", nil])
    XCTAssertEqual(statement.words[2].value, "a = b")
    XCTAssertEqual(statement.words[6].value, "")
    XCTAssertEqual(statement.words[3].text, "k=v")
  }

  func testPositions() throws {
    let statements = try Lexer.statements("load a\n  caption  b; show")
    XCTAssertEqual(statements[1].words[1].position, SourcePosition(line: 2, column: 12))
    XCTAssertEqual(statements[2].position, SourcePosition(line: 2, column: 15))
  }

  func testScriptArguments() throws {
    XCTAssertEqual(
      try words(#"echo $1 "x$2y" '$1' $0 a$"#, arguments: ["s.flr", "one", "two"]),
      [["echo", "one", "xtwoy", "$1", "s.flr", "a$"]])
    let error = try XCTUnwrap(
      { () -> ShellError? in
        do { _ = try Lexer.statements("echo ok\necho $3", arguments: ["s.flr", "a"]) } catch let e as ShellError {
          return e
        } catch {}
        return nil
      }())
    XCTAssertEqual(error.position?.line, 2)
    XCTAssertTrue(error.message.contains("$3"), error.message)
    XCTAssertTrue(error.message.contains("1 argument"), error.message)
  }

  func testErrorsCarryLineAndColumn() throws {
    let unterminated = try XCTUnwrap(lexError("echo ok\necho \"abc"))
    XCTAssertEqual(unterminated.position, SourcePosition(line: 2, column: 6))
    XCTAssertTrue(unterminated.message.contains("unterminated \" quote"), unterminated.message)
    let single = try XCTUnwrap(lexError("echo 'abc"))
    XCTAssertEqual(single.position, SourcePosition(line: 1, column: 6))
    let escape = try XCTUnwrap(lexError(#"echo "a\qb""#))
    XCTAssertEqual(escape.position, SourcePosition(line: 1, column: 8))
    XCTAssertTrue(escape.message.contains("unknown escape \\q"), escape.message)
    XCTAssertNotNil(lexError("echo a\\"))
  }
}
