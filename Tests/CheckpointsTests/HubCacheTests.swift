import Foundation
import XCTest

@testable import FlrCheckpoints

final class HubCacheTests: XCTestCase {
  func testCacheFolderFollowsHuggingFaceHubConstants() {
    let home = ["HOME": "/home/u"]
    XCTAssertEqual(HubCache.cacheFolder(environment: home), "/home/u/.cache/huggingface/hub")
    XCTAssertEqual(
      HubCache.cacheFolder(environment: home.merging(["XDG_CACHE_HOME": "/x"]) { $1 }), "/x/huggingface/hub")
    XCTAssertEqual(HubCache.cacheFolder(environment: home.merging(["HF_HOME": "~/hf"]) { $1 }), "/home/u/hf/hub")
    XCTAssertEqual(
      HubCache.cacheFolder(environment: home.merging(["HF_HOME": "/hf", "HUGGINGFACE_HUB_CACHE": "/legacy"]) { $1 }),
      "/legacy")
    XCTAssertEqual(
      HubCache.cacheFolder(
        environment: home.merging(["HF_HOME": "/hf", "HF_HUB_CACHE": "$SCRATCH/${WHO}/c"]) { $1 }
          .merging(["SCRATCH": "/s", "WHO": "me"]) { $1 }),
      "/s/me/c")
    XCTAssertEqual(
      HubCache.cacheFolder(environment: home.merging(["HF_HUB_CACHE": "/a/$UNSET/b"]) { $1 }), "/a/$UNSET/b")
  }

  func testRepoIDValidation() {
    for ok in ["microsoft/Florence-2-base-ft", "gpt2", "a.b_c/d-e.f"] { XCTAssertTrue(HubCache.isValidRepoID(ok), ok) }
    for bad in ["a/b/c", "a--b/c", "a/..b", "-a/b", "a/b-", "", "a/", "x y/z"] {
      XCTAssertFalse(HubCache.isValidRepoID(bad), bad)
    }
  }

  /// A cache laid out as huggingface_hub lays it out: blobs, refs/<name> holding a hash, snapshots/<hash>.
  func makeCache() throws -> (env: [String: String], repo: String, main: String, pr: String) {
    let root = try temporaryFolder(self)
    let repo = "\(root)/hub/models--microsoft--Florence-2-base-ft"
    let main = String(repeating: "a1", count: 20)
    let pr = String(repeating: "0f", count: 20)
    let fm = FileManager.default
    for commit in [main, pr] {
      try fm.createDirectory(atPath: "\(repo)/snapshots/\(commit)", withIntermediateDirectories: true)
    }
    try fm.createDirectory(atPath: "\(repo)/blobs", withIntermediateDirectories: true)
    try fm.createDirectory(atPath: "\(repo)/refs/refs/pr", withIntermediateDirectories: true)
    try main.write(toFile: "\(repo)/refs/main", atomically: true, encoding: .utf8)
    try pr.write(toFile: "\(repo)/refs/refs/pr/1", atomically: true, encoding: .utf8)
    try fm.copyItem(atPath: Fixtures.path("model.safetensors"), toPath: "\(repo)/blobs/0123abcd")
    try fm.createSymbolicLink(
      atPath: "\(repo)/snapshots/\(main)/model.safetensors", withDestinationPath: "../../blobs/0123abcd")
    return (["HOME": "/nonexistent", "HF_HOME": root], repo, main, pr)
  }

  func testResolvesRefsCommitsAndFolders() throws {
    let (env, repo, main, pr) = try makeCache()
    let id = "microsoft/Florence-2-base-ft"
    let snapshot = try HubCache.resolve(id, environment: env)
    XCTAssertEqual(snapshot, "\(repo)/snapshots/\(main)")
    XCTAssertEqual(try HubCache.resolve(id, revision: "refs/pr/1", environment: env), "\(repo)/snapshots/\(pr)")
    XCTAssertEqual(try HubCache.resolve(id, revision: pr, environment: env), "\(repo)/snapshots/\(pr)")
    // A local folder is taken as it is; the snapshot's symlinked weights open through the link.
    XCTAssertEqual(try HubCache.resolve(snapshot, environment: env), snapshot)
    let file = "\(snapshot)/model.safetensors"
    XCTAssertEqual(try HubCache.resolve(file, environment: env), file)
    XCTAssertEqual(try CheckpointSet.open(path: file).names.count, try CheckpointSet.open(path: snapshot).names.count)
    let set = try CheckpointSet.open(folder: snapshot)
    XCTAssertEqual(set.format, .safetensors)
    try assertMatchesExpected(set["shared.weight"]!)
  }

  func testMissingModelSaysWhereItLookedAndHowToFetch() throws {
    let (env, repo, _, _) = try makeCache()
    let absent = checkpointError { _ = try HubCache.resolve("microsoft/Florence-2-large", environment: env) }
    let text = absent?.description ?? ""
    XCTAssertTrue(absent?.file.hasSuffix("/hub/models--microsoft--Florence-2-large") ?? false, text)
    XCTAssertTrue(text.contains("huggingface-cli download microsoft/Florence-2-large"), text)
    XCTAssertTrue(text.contains("hf download"), text)
    XCTAssertTrue(text.contains("flr never downloads"), text)
    let branch = checkpointError {
      _ = try HubCache.resolve("microsoft/Florence-2-base-ft", revision: "dev", environment: env)
    }
    XCTAssertEqual(branch?.file, "\(repo)/refs/dev")
    XCTAssertTrue(branch?.message.hasPrefix("no such file, so") ?? false, "\(String(describing: branch))")
    XCTAssertTrue(branch?.description.contains("hf download microsoft/Florence-2-base-ft --revision dev") ?? false)
    let commit = String(repeating: "9", count: 40)
    let noSnapshot = checkpointError {
      _ = try HubCache.resolve("microsoft/Florence-2-base-ft", revision: commit, environment: env)
    }
    XCTAssertEqual(noSnapshot?.file, "\(repo)/snapshots/\(commit)")
    XCTAssertTrue(
      checkpointError { _ = try HubCache.resolve("./no/such/folder", environment: env) }?
        .message.contains("no such folder") ?? false)
    XCTAssertTrue(
      checkpointError { _ = try HubCache.resolve("not a model", environment: env) }?
        .message.contains("neither a folder nor") ?? false)
    XCTAssertNotNil(
      checkpointError {
        _ = try HubCache.resolve("microsoft/Florence-2-base-ft", revision: "../../x", environment: env)
      })
  }
}
