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
}
