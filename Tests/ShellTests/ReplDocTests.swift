import XCTest

@testable import FlrShell

/// REPL.md's command reference is generated from the declarations (`flr -c 'help markdown update=REPL.md'`
/// rewrites it between the markers); this fails when the two drift apart.
final class ReplDocTests: XCTestCase {
  func testReferenceMatchesTheDeclarations() throws {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let text = try String(contentsOf: repo.appendingPathComponent("REPL.md"), encoding: .utf8)
    let start = HelpText.startMarker, end = HelpText.endMarker
    let body = try XCTUnwrap(
      text.range(of: start).flatMap { s in text.range(of: end).map { text[s.upperBound..<$0.lowerBound] } })
    XCTAssertEqual(
      String(body), HelpText.markdown(), "REPL.md is stale: run `flr -c 'help markdown update=REPL.md'`")
  }
}
