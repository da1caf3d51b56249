import Foundation
import XCTest

@testable import FlrModel

/// A save killed mid-way leaves `.NAME.tmp-PID-N` folders; the next save into the same parent removes those
/// whose process is gone and never touches a live process's.
final class AtomicFolderCleanupTests: XCTestCase {
  func testTheNextSaveRemovesTemporaryFoldersOfDeadProcessesOnly() throws {
    let fm = FileManager.default
    let parent = fm.temporaryDirectory.appendingPathComponent("flr-atomic-cleanup-\(getpid())").path
    try? fm.removeItem(atPath: parent)
    try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
    defer { try? fm.removeItem(atPath: parent) }
    // A process that has exited: its PID is gone.
    let finished = Process()
    finished.executableURL = URL(fileURLWithPath: "/bin/true")
    try finished.run()
    finished.waitUntilExit()
    let dead = finished.processIdentifier
    let deadFolders = [".model.tmp-\(dead)-17", ".model.tmp-\(dead)-18-old"]
    let kept = [".model.tmp-\(getpid())-19", ".model.tmp-1-20", ".notes.tmp-x-1", "visible.tmp-\(dead)-3"]
    for name in deadFolders + kept {
      try fm.createDirectory(atPath: parent + "/" + name, withIntermediateDirectories: true)
      try Data("weights".utf8).write(to: URL(fileURLWithPath: parent + "/" + name + "/model.safetensors"))
    }
    try AtomicFolder.write(parent + "/model", existing: .replace) { temporary in
      try AtomicFolder.writeFile(Data("new".utf8), to: temporary + "/config.json")
    }
    let left = Set(try fm.contentsOfDirectory(atPath: parent))
    XCTAssertEqual(left, Set(kept + ["model"]))
  }
}
