// The PEFT pair (adapter_config.json + adapter_model.safetensors) is saved as one unit: a save that fails
// part-way (here: the file size limit stands in for a full disk) leaves the previous adapter exactly as it
// was, with no half-written files beside it; a successful save keeps the folder's other files.
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

#if canImport(Glibc)
  import Glibc
#endif

final class LoRAAtomicSaveTests: XCTestCase {
  func folder() throws -> String {
    let path = NSTemporaryDirectory() + "flr-lora-unit-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
  }

  func adapter(_ model: Florence2, rank: Int, targets: String) throws -> LoRAAdapter {
    var config = LoRAConfig()
    config.rank = rank
    config.targets = .parse(targets)
    return try LoRAAdapter(name: "a", config: config, model: model)
  }

  func contents(_ folder: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
      out[name] = FileManager.default.contents(atPath: folder + "/" + name) ?? Data()
    }
    return out
  }

  func testAFullDiskLeavesThePreviousAdapterIntact() throws {
    let model = try Florence2.load(folder: ModelFixtures.path("tiny-original-safetensors"))
    let parent = try folder()
    let out = parent + "/adapter"
    try PEFTAdapterFile.save(try adapter(model, rank: 1, targets: "q_proj"), to: out)
    let before = try contents(out)
    XCTAssertEqual(Set(before.keys), ["adapter_config.json", "adapter_model.safetensors"])

    // A larger adapter under a file size limit below its tensor file: write() fails with EFBIG, as it would
    // with ENOSPC on a full disk. (RLIMIT_FSIZE binds root too, unlike a read-only folder.)
    let bigger = try adapter(model, rank: 8, targets: "q_proj,k_proj,v_proj,fc1,fc2")
    var saved = rlimit()
    getrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
    let previousHandler = signal(SIGXFSZ, SIG_IGN)  // else the kernel's SIGXFSZ ends the process
    var limit = saved
    limit.rlim_cur = 4096
    XCTAssertEqual(setrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit), 0)
    var failure: Error?
    do { try PEFTAdapterFile.save(bigger, to: out) } catch { failure = error }
    setrlimit(Int32(RLIMIT_FSIZE.rawValue), &saved)
    signal(SIGXFSZ, previousHandler)

    let error = try XCTUnwrap(failure, "the save must fail under the size limit")
    XCTAssertTrue("\(error)".contains("adapter_model.safetensors"), "\(error)")
    XCTAssertEqual(try contents(out), before)  // both files as they were
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: parent), ["adapter"])  // no temporary left
    // And the old adapter still loads.
    XCTAssertEqual(try PEFTAdapterFile.load(from: out, name: "old", model: model).adapter.layers.first?.lora.rank, 1)
  }

  func testSaveReplacesThePairAndKeepsOtherFiles() throws {
    let model = try Florence2.load(folder: ModelFixtures.path("tiny-original-safetensors"))
    let out = try folder() + "/run"
    try FileManager.default.createDirectory(atPath: out + "/checkpoint-10", withIntermediateDirectories: true)
    try Data("{\"step\": 1}\n".utf8).write(to: URL(fileURLWithPath: out + "/train.jsonl"))
    try Data("x".utf8).write(to: URL(fileURLWithPath: out + "/checkpoint-10/adapter_config.json"))
    try Data("stale".utf8).write(to: URL(fileURLWithPath: out + "/adapter_model.bin"))  // a legacy file
    let log = try FileHandle(forWritingTo: URL(fileURLWithPath: out + "/train.jsonl"))  // a trainer's open log
    try log.seekToEnd()

    try PEFTAdapterFile.save(try adapter(model, rank: 2, targets: "fc1"), to: out)
    let names = Set(try FileManager.default.contentsOfDirectory(atPath: out))
    XCTAssertEqual(names, ["adapter_config.json", "adapter_model.safetensors", "train.jsonl", "checkpoint-10"])
    XCTAssertEqual(FileManager.default.contents(atPath: out + "/checkpoint-10/adapter_config.json"), Data("x".utf8))
    // The open log still writes into the file the folder now holds (it was carried over as a hard link).
    log.write(Data("{\"step\": 2}\n".utf8))
    try log.close()
    XCTAssertEqual(
      String(decoding: FileManager.default.contents(atPath: out + "/train.jsonl") ?? Data(), as: UTF8.self),
      "{\"step\": 1}\n{\"step\": 2}\n")
    XCTAssertEqual(try PEFTAdapterFile.load(from: out, name: "new", model: model).adapter.layers.first?.lora.rank, 2)

    // Extra files written through `alsoWrite` join the unit; a throw there keeps the previous pair.
    let pair = try contents(out).filter { $0.key.hasPrefix("adapter_") }
    struct Refused: Error {}
    XCTAssertThrowsError(
      try PEFTAdapterFile.save(try adapter(model, rank: 3, targets: "fc2"), to: out) { temporary in
        try Data("state".utf8).write(to: URL(fileURLWithPath: temporary + "/training_state.json"))
        throw Refused()
      })
    XCTAssertEqual(try contents(out).filter { $0.key.hasPrefix("adapter_") }, pair)
    XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/training_state.json"))
    try PEFTAdapterFile.save(try adapter(model, rank: 3, targets: "fc2"), to: out) { temporary in
      try Data("state".utf8).write(to: URL(fileURLWithPath: temporary + "/training_state.json"))
    }
    XCTAssertEqual(FileManager.default.contents(atPath: out + "/training_state.json"), Data("state".utf8))
  }
}
