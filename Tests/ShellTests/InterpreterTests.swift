import XCTest

@testable import FlrShell

final class InterpreterTests: XCTestCase {
  private var captured = CapturedOutput()
  private var errors = CapturedOutput()
  private var session: Session!

  override func setUp() {
    captured = CapturedOutput()
    errors = CapturedOutput()
    session = Session(out: captured.output, err: errors.output)
  }

  private func run(_ text: String, name: String = "t.flr") throws {
    try Interpreter(session: session).run(text, name: name)
  }

  private func failure(_ text: String, name: String = "t.flr") -> ShellError? {
    do {
      try run(text, name: name)
    } catch let error as ShellError {
      return error
    } catch {
      XCTFail("not a ShellError: \(error)")
    }
    return nil
  }

  func testStopsAtTheFirstErrorWithFileAndLine() throws {
    let error = try XCTUnwrap(failure("echo one\n\necho two; captoin x\necho never"))
    XCTAssertEqual(error.located, "t.flr:3: unknown command 'captoin'; did you mean caption? (`help` lists them)")
    XCTAssertEqual(captured.text, "one\ntwo\n")
  }

  func testALexicalErrorStopsTheScriptBeforeItRuns() throws {
    let error = try XCTUnwrap(failure("echo one\necho \"open"))
    XCTAssertEqual(error.located, "t.flr:2: unterminated \" quote opened at column 6")
    XCTAssertEqual(captured.text, "")
  }

  func testSetChangesLaterDefaultsAndUnsetRestores() throws {
    try run("set beams=1 max_tokens=40 recursive")
    XCTAssertEqual(session.settings, ["beams": "1", "max_tokens": "40", "recursive": "true"])
    let statement = try XCTUnwrap(Lexer.statements("caption x").first)
    let bound = try Binder.bind(statement, to: CaptionCommand.command, settings: session.settings)
    XCTAssertEqual(bound.int("beams"), 1)
    XCTAssertTrue(bound.flag("recursive"))
    try run("unset beams")
    XCTAssertNil(session.settings["beams"])
    XCTAssertEqual(failure("unset beams")?.message, "unset: beams is not set")
  }

  func testSetValidatesAgainstEveryCommand() {
    XCTAssertEqual(failure("set beams=0")?.message, "set: beams=0: expected an integer in 1..64 (for caption)")
    XCTAssertEqual(failure("set beam=1")?.message, "set: no command has an option beam; did you mean beams?")
    XCTAssertEqual(failure("set out=x.jsonl")?.message, "set: out= belongs to each caption call and cannot be set")
    XCTAssertEqual(failure("set beams")?.message, "set: beams needs a value: beams=int 1..64")
    XCTAssertEqual(failure("set progress=fancy")?.message, "set: progress=fancy: expected one of auto, bar, lines, off")
    XCTAssertTrue(session.settings.isEmpty, "a failed set changes nothing it rejected")
  }

  func testAnOptionWhereACommandShouldBe() {
    XCTAssertEqual(
      failure("beams=3")?.message, "expected a command name, found the option beams= (to change a default: set beams=3)"
    )
  }

  func testSourceReportsTheInnerFileAndKeepsState() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flr-source-\(getpid())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let inner = folder.appendingPathComponent("inner.flr").path
    try "set beams=2\necho \"arg $1\"\n\ncaption x beams=0\n".write(toFile: inner, atomically: true, encoding: .utf8)
    let error = try XCTUnwrap(failure("echo start\nsource \(inner) hello\necho never"))
    XCTAssertEqual(error.located, "\(inner):4: caption: beams=0: expected an integer in 1..64")
    XCTAssertEqual(captured.text, "start\narg hello\n")
    XCTAssertEqual(session.settings["beams"], "2", "what the script did before its error stays")
    XCTAssertEqual(failure("source \(folder.path)/missing.flr")?.message, "no such file: \(folder.path)/missing.flr")
  }

  func testSourceRecursionIsBounded() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("flr-loop-\(getpid()).flr").path
    try "source \(path)\n".write(toFile: path, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let error = try XCTUnwrap(failure("source \(path)"))
    XCTAssertTrue(error.message.contains("nested more than 32 deep"), error.message)
    XCTAssertTrue(session.sourceStack.isEmpty)
  }

  func testQuitUnwindsWithItsCode() {
    guard case .quit(let code)? = failure("echo a; exit 3; echo b")?.kind else { return XCTFail("expected quit") }
    XCTAssertEqual(code, 3)
    XCTAssertEqual(captured.text, "a\n")
  }

  func testPendingInterruptStopsBeforeTheNextCommand() {
    Interrupt.simulate()
    defer { Interrupt.reset() }
    guard case .interrupted? = failure("echo a")?.kind else { return XCTFail("expected interrupted") }
    XCTAssertEqual(captured.text, "")
  }

  func testHelpListsEveryCommandAndShowsOptions() throws {
    try run("help")
    for command in Registry.commands { XCTAssertTrue(captured.text.contains("  \(command.name) "), command.name) }
    captured = CapturedOutput()
    session = Session(out: captured.output, err: errors.output)
    try run("help caption")
    XCTAssertTrue(captured.text.contains("beams=int 1..64"), captured.text)
    XCTAssertTrue(captured.text.contains("(default 3)"), captured.text)
    XCTAssertTrue(captured.text.contains("Examples:\n  caption photos/cat.jpg"), captured.text)
    XCTAssertEqual(failure("help captoin")?.message, "help: unknown command 'captoin'; did you mean caption?")
  }
}
