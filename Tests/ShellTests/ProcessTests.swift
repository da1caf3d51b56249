import XCTest

/// The built `flr` binary run as a subprocess: modes, exit codes, where output goes.
final class ProcessTests: XCTestCase {
  /// `.build/<config>/flr`, next to the test bundle (scripts/test builds it before testing).
  static let binary: URL? = {
    var candidates = [Bundle.main.bundleURL] + Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
    candidates.append(URL(fileURLWithPath: CommandLine.arguments.first ?? "").deletingLastPathComponent())
    return candidates.map { $0.appendingPathComponent("flr") }.first {
      FileManager.default.isExecutableFile(atPath: $0.path)
    }
  }()

  struct Result {
    var status: Int32
    var out: String
    var err: String
  }

  /// Runs the binary with `arguments` (HOME a temporary folder) and `stdin` as its input (none: at its end).
  static func flr(_ arguments: [String], stdin: String? = nil) throws -> Result {
    guard let binary = Self.binary else {
      XCTFail("flr binary not found next to the test bundle; run `swift build` first")
      throw XCTSkip("no binary")
    }
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    let input = Pipe(), output = Pipe(), error = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = error
    var environment = ProcessInfo.processInfo.environment
    environment["HOME"] = FileManager.default.temporaryDirectory.path
    process.environment = environment
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Result(
      status: process.terminationStatus, out: String(decoding: out, as: UTF8.self),
      err: String(decoding: err, as: UTF8.self))
  }

  private func script(_ text: String) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("flr-test-\(UUID().uuidString).flr").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
  }

  func testVersionAndHelp() throws {
    let version = try Self.flr(["--version"])
    XCTAssertEqual(version.status, 0)
    XCTAssertTrue(version.out.hasPrefix("flr "), version.out)
    let help = try Self.flr(["--help"])
    XCTAssertEqual(help.status, 0)
    XCTAssertTrue(help.out.contains("usage: flr"), help.out)
  }

  func testStdinRunsWithoutPromptOrEcho() throws {
    let result = try Self.flr([], stdin: "echo one # comment\nset beams=1; echo two\n")
    XCTAssertEqual(result.status, 0, result.err)
    XCTAssertEqual(result.out, "one\ntwo\n")
    XCTAssertEqual(result.err, "")
  }

  func testStdinStopsAtTheFirstErrorWithLine() throws {
    let result = try Self.flr([], stdin: "echo one\n\ncaption x beams=0\necho never\n")
    XCTAssertEqual(result.status, 1)
    XCTAssertEqual(result.out, "one\n")
    XCTAssertEqual(result.err, "<stdin>:3: caption: beams=0: expected an integer in 1..64\n")
  }

  func testScriptWithArgumentsAndErrorLocation() throws {
    let path = try script("echo \"hello $1\"\n# two\nlroa rank=4\necho never\n")
    let result = try Self.flr([path, "world"])
    XCTAssertEqual(result.status, 1)
    XCTAssertEqual(result.out, "hello world\n")
    XCTAssertEqual(result.err, "\(path):3: unknown command 'lroa'; did you mean lora? (`help` lists them)\n")
    let ok = try Self.flr([try script("echo $0 done\nquit 0\necho never\n")])
    XCTAssertEqual(ok.status, 0)
    XCTAssertTrue(ok.out.hasSuffix(".flr done\n"), ok.out)
  }

  func testDashC() throws {
    let result = try Self.flr(["-c", "echo a; echo \"b c\"; echo $1", "arg"])
    XCTAssertEqual(result.status, 0, result.err)
    XCTAssertEqual(result.out, "a\nb c\narg\n")
    let failing = try Self.flr(["-c", "echo a; exit 4; echo b"])
    XCTAssertEqual(failing.status, 4)
    XCTAssertEqual(failing.out, "a\n")
  }

  func testUsageErrorsExitTwo() throws {
    XCTAssertEqual(try Self.flr(["--frobnicate"]).status, 2)
    XCTAssertEqual(try Self.flr(["-c"]).status, 2)
    XCTAssertEqual(try Self.flr(["/nonexistent/script.flr"]).status, 2)
    let caption = try Self.flr(["caption", "--images"])
    XCTAssertEqual(caption.status, 2)
    XCTAssertTrue(caption.err.contains("--images"), caption.err)
  }

  func testOneShotFormsRunTheShellCommands() throws {
    let shown = try Self.flr(["caption", "--images", "dir", "--show-commands"])
    XCTAssertEqual(shown.status, 0)
    XCTAssertEqual(
      shown.out,
      "load microsoft/Florence-2-base-ft\ncaption dir task=<DETAILED_CAPTION> beams=3 max_tokens=75 batch=1 ext=.txt\n")
    let train = try Self.flr(["train", "--dataset_dir", "d", "--output_dir", "o", "--device", "cuda"])
    XCTAssertEqual(train.status, 2)
    XCTAssertTrue(train.err.contains("flr runs on the CPU only"), train.err)
    // Arguments are checked before the model loads: a missing dataset folder is a usage error.
    let run = try Self.flr(["train", "--dataset_dir", "d", "--output_dir", "o", "--optimizer_name", "AdamW"])
    XCTAssertEqual(run.status, 2)
    XCTAssertTrue(run.err.contains("dataset: no such file or folder: d"), run.err)
  }

  func testInteractiveAfterAScriptKeepsStateAndSurvivesErrors() throws {
    let path = try script("set beams=1\n")
    let result = try Self.flr(["-i", path], stdin: "show settings\nbogus\necho still here\n")
    XCTAssertEqual(result.status, 0, result.err)
    XCTAssertTrue(result.out.contains("beams=1 (set)"), result.out)
    XCTAssertTrue(result.out.hasSuffix("still here\n"), result.out)
    XCTAssertTrue(result.err.contains("error: unknown command 'bogus'"), result.err)
  }

  /// Ctrl-C (SIGINT) during `caption` stops at the next safe point: exit status 130, the JSONL lines
  /// finished so far kept and well-formed, and a summary on stderr.
  func testInterruptStopsCaptioningAtASafePoint() throws {
    guard let binary = Self.binary else { return XCTFail("flr binary not found next to the test bundle") }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("flr-sigint-\(getpid())")
    let model = try TinyModelFolder.create(at: folder, images: [])
    let photos = folder.appendingPathComponent("photos")
    defer { try? FileManager.default.removeItem(at: folder) }
    // Copies, not links: folder listing takes regular files only.
    for index in 0..<200 {
      try FileManager.default.copyItem(
        at: TinyModelFolder.fixtures.appendingPathComponent("images/photo_rocket.jpg"),
        to: photos.appendingPathComponent(String(format: "img%03d.jpg", index)))
    }
    let jsonl = folder.appendingPathComponent("c.jsonl").path
    let process = Process()
    process.executableURL = binary
    process.arguments = [
      "-c",
      "load \(model.path); caption \(photos.path) prompt=\"a photo of\" beams=1 max_tokens=4 out=\(jsonl); echo never",
    ]
    let output = Pipe(), error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Wait for the first finished caption, so the signal arrives while `caption` runs.
    let deadline = Date().addingTimeInterval(60)
    while Date() < deadline, (try? String(contentsOfFile: jsonl, encoding: .utf8))?.contains("\n") != true {
      Thread.sleep(forTimeInterval: 0.05)
    }
    kill(process.processIdentifier, SIGINT)
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 130, err)
    XCTAssertEqual(out.count, 0, "`echo never` did not run")
    XCTAssertTrue(err.contains("caption: stopped by Ctrl-C after"), err)
    let lines = try String(contentsOfFile: jsonl, encoding: .utf8).split(
      separator: "\n", omittingEmptySubsequences: false)
    XCTAssertEqual(lines.last, "", "the file ends with a complete line")
    XCTAssertGreaterThan(lines.count - 1, 0)
    XCTAssertLessThan(lines.count - 1, 200)
    for line in lines.dropLast() {
      XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], String(line))
    }
  }
}
