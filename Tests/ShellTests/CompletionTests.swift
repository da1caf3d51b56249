import XCTest

@testable import FlrShell

final class CompletionTests: XCTestCase {
  func testCommandNames() {
    XCTAssertEqual(Completion.candidates(before: "", word: "ca"), ["caption"])
    XCTAssertEqual(Completion.candidates(before: "echo a; ", word: "s"), ["sample", "save", "set", "show", "source"])
    XCTAssertEqual(Completion.candidates(before: "help ", word: "tr"), ["train"])
  }

  func testOptionNamesAndValues() {
    XCTAssertEqual(Completion.candidates(before: "caption x ", word: "be"), ["beams="])
    XCTAssertEqual(Completion.candidates(before: "caption x ", word: "rec"), ["recursive"])
    XCTAssertEqual(Completion.candidates(before: "train ", word: "sch"), ["scheduler="])
    XCTAssertEqual(Completion.candidates(before: "train scheduler=", word: ""), ["none", "onecycle"])
    XCTAssertEqual(Completion.candidates(before: "caption x task=", word: "<M"), ["<MORE_DETAILED_CAPTION>"])
    XCTAssertEqual(Completion.candidates(before: "show ", word: "se"), ["settings"])
    XCTAssertEqual(Completion.candidates(before: "set ", word: "max_t"), ["max_tokens="])
  }

  func testPaths() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flr-complete-\(getpid())")
    try FileManager.default.createDirectory(
      at: folder.appendingPathComponent("pics"), withIntermediateDirectories: true)
    XCTAssertTrue(
      FileManager.default.createFile(atPath: folder.appendingPathComponent("pa.jpg").path, contents: Data()))
    defer { try? FileManager.default.removeItem(at: folder) }
    XCTAssertEqual(
      Completion.candidates(before: "caption ", word: folder.path + "/p"),
      [folder.path + "/pa.jpg", folder.path + "/pics/"])
    XCTAssertEqual(Completion.candidates(before: "caption x out=", word: folder.path + "/pi"), [folder.path + "/pics/"])
  }

  func testCachedHubModelsForLoad() throws {
    let cache = FileManager.default.temporaryDirectory.appendingPathComponent("flr-hub-\(getpid())")
    try FileManager.default.createDirectory(
      at: cache.appendingPathComponent("models--microsoft--Florence-2-base-ft"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(
      at: cache.appendingPathComponent("datasets--x--y"), withIntermediateDirectories: true)
    setenv("HF_HUB_CACHE", cache.path, 1)
    defer {
      unsetenv("HF_HUB_CACHE")
      try? FileManager.default.removeItem(at: cache)
    }
    XCTAssertEqual(Completion.candidates(before: "load ", word: "micro"), ["microsoft/Florence-2-base-ft"])
  }

  func testPathsWithBlanksAreEscapedAsTheLexerReadsThem() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flr-complete-sp-\(getpid())").path
    try FileManager.default.createDirectory(atPath: folder + "/sp ace", withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: folder + "/sp ace/a b.jpg", contents: Data())
    _ = FileManager.default.createFile(atPath: folder + "/x=1.png", contents: Data())
    defer { try? FileManager.default.removeItem(atPath: folder) }
    func complete(_ line: String) -> [String] { Completion.completion(line: line).replacements.map(\.text) }
    XCTAssertEqual(complete("caption \(folder)/sp"), ["\(folder)/sp\\ ace/"])
    XCTAssertEqual(Completion.completion(line: "caption \(folder)/sp").start, 8)
    // The next tab reads the escaped word back.
    XCTAssertEqual(complete("caption \(folder)/sp\\ ace/"), ["\(folder)/sp\\ ace/a\\ b.jpg"])
    XCTAssertEqual(Completion.completion(line: "caption \(folder)/sp\\ ace/").replacements.map(\.finished), [true])
    // Inside quotes the quote stays open for a folder and closes after a file.
    XCTAssertEqual(complete("caption \"\(folder)/sp"), ["\"\(folder)/sp ace/"])
    XCTAssertEqual(complete("caption '\(folder)/sp ace/a"), ["'\(folder)/sp ace/a b.jpg'"])
    // A path value after key=; a positional `a=b` would read as an option, so its `=` is escaped.
    let value = Completion.completion(line: "caption x out=\(folder)/sp")
    XCTAssertEqual(value.start, "caption x out=".count)
    XCTAssertEqual(value.replacements.map(\.text), ["\(folder)/sp\\ ace/"])
    XCTAssertEqual(complete("caption \(folder)/x"), ["\(folder)/x\\=1.png"])
    XCTAssertEqual(complete("caption x be"), ["beams="])
    let round = try XCTUnwrap(Lexer.statements("caption \(folder)/sp\\ ace/a\\ b.jpg \(folder)/x\\=1.png").first)
    XCTAssertEqual(round.words.dropFirst().map(\.text), ["\(folder)/sp ace/a b.jpg", "\(folder)/x=1.png"])
    XCTAssertNil(round.words[2].key)
  }

  func testAdapterNames() throws {
    let fixture = try TrainingShellFixture(name: "complete-adapters")
    defer { fixture.remove() }
    let s = TestSession()
    try s.run("load \(fixture.model.path)\nlora mine rank=2\nlora other rank=2")
    let session = s.session
    XCTAssertEqual(Completion.candidates(before: "use ", word: "", session: session), ["none", "mine", "other"])
    XCTAssertEqual(Completion.candidates(before: "drop ", word: "o", session: session), ["other"])
    XCTAssertEqual(Completion.candidates(before: "merge ", word: "m", session: session), ["mine"])
    XCTAssertTrue(Completion.candidates(before: "save ", word: "mi", session: session).contains("mine"))
    XCTAssertEqual(
      Completion.candidates(before: "compare a.jpg with=", word: "", session: session), ["base", "mine", "other"])
    XCTAssertEqual(
      Completion.candidates(before: "compare a.jpg with=", word: "base,o", session: session), ["base,other"])
  }
}
