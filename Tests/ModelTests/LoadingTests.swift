// Configs in both layouts, key renaming, and the one error a checkpoint that does not fit gives.
import FlrCheckpoints
import FlrCore
import Foundation
import XCTest

@testable import FlrModel

final class LoadingTests: XCTestCase {
  func testRealConfigsDecode() throws {
    let base = try FlorenceConfig.load(ModelFixtures.root.appendingPathComponent("configs/base.json"))
    XCTAssertEqual(base.vision.dimEmbed, [128, 256, 512, 1024])
    XCTAssertEqual(base.vision.depths, [1, 1, 9, 1])
    XCTAssertEqual(base.text.dModel, 768)
    XCTAssertEqual(base.text.maxPositionEmbeddings, 1024)
    XCTAssertEqual(base.text.encoderLayers, 6)
    XCTAssertEqual(base.projectionDim, 768)
    XCTAssertEqual(base.text.numBeams, 3)
    XCTAssertEqual(base.text.forcedBosTokenId, 0)
    let large = try FlorenceConfig.load(ModelFixtures.root.appendingPathComponent("configs/large.json"))
    XCTAssertEqual(large.vision.dimEmbed, [256, 512, 1024, 2048])
    XCTAssertEqual(large.text.maxPositionEmbeddings, 4096)  // the Dec-2024 revision: read, not assumed
    XCTAssertEqual(large.text.encoderLayers, 12)
  }

  func testBothLayoutsOfTheTinyConfigAgree() throws {
    let original = try FlorenceConfig.load(
      URL(fileURLWithPath: ModelFixtures.path("tiny-original-bin")).appendingPathComponent("config.json"))
    let native = try FlorenceConfig.load(
      URL(fileURLWithPath: ModelFixtures.path("tiny-native-bin")).appendingPathComponent("config.json"))
    XCTAssertEqual(original.vision, native.vision)
    XCTAssertEqual(original.text.maxPositionEmbeddings, 640)
    XCTAssertEqual(original.text.vocabSize, native.text.vocabSize)
    XCTAssertEqual(original.text.dModel, native.text.dModel)
  }

  /// Python's json keeps the last of duplicate keys; so must flr (JSONDecoder alone keeps the first).
  func testDuplicateKeysLastWins() throws {
    let json =
      #"{"text_config": {"d_model": 16, "encoder_attention_heads": 4, "decoder_attention_heads": 4,"#
      + #" "d_model": 32}, "projection_dim": 16, "vision_config": {"projection_dim": 32}, "projection_dim": 32}"#
    let config = try FlorenceConfig.parse(Data(json.utf8))
    XCTAssertEqual(config.text.dModel, 32)
    XCTAssertEqual(config.projectionDim, 32)
  }

  func testBadConfigNamesTheProblem() {
    let json = #"{"text_config": {"d_model": 30, "encoder_attention_heads": 4}, "projection_dim": 30}"#
    XCTAssertThrowsError(try FlorenceConfig.parse(Data(json.utf8), file: "x/config.json")) { error in
      let text = "\(error)"
      XCTAssertTrue(text.hasPrefix("x/config.json: "), text)
      XCTAssertTrue(text.contains("encoder_attention_heads"), text)
    }
    XCTAssertThrowsError(try FlorenceConfig.parse(Data("{".utf8)))
  }

  /// The renaming reproduces the real table for every key of base and large (checkpoint_keys.json's pairs,
  /// copied here for the image-side keys that have irregular names, plus one of each vision/BART pattern).
  func testNativeNamesMapToOriginal() {
    let pairs = [
      ("model.multi_modal_projector.image_projection.weight", "image_projection"),
      (
        "model.multi_modal_projector.image_position_embed.row_embeddings.weight",
        "image_pos_embed.row_embeddings.weight"
      ),
      ("model.multi_modal_projector.visual_temporal_embed.pos_idx_to_embed", "visual_temporal_embed.pos_idx_to_embed"),
      ("model.multi_modal_projector.image_proj_norm.bias", "image_proj_norm.bias"),
      ("model.vision_tower.convs.2.conv.weight", "vision_tower.convs.2.proj.weight"),
      ("model.vision_tower.convs.2.norm.bias", "vision_tower.convs.2.norm.bias"),
      (
        "model.vision_tower.blocks.2.7.spatial_block.conv1.weight",
        "vision_tower.blocks.2.7.spatial_block.conv1.fn.dw.weight"
      ),
      (
        "model.vision_tower.blocks.2.7.channel_block.norm1.bias",
        "vision_tower.blocks.2.7.channel_block.channel_attn.norm.bias"
      ),
      (
        "model.vision_tower.blocks.0.0.spatial_block.norm1.weight",
        "vision_tower.blocks.0.0.spatial_block.window_attn.norm.weight"
      ),
      (
        "model.vision_tower.blocks.1.0.spatial_block.window_attn.qkv.weight",
        "vision_tower.blocks.1.0.spatial_block.window_attn.fn.qkv.weight"
      ),
      (
        "model.vision_tower.blocks.3.0.channel_block.channel_attn.proj.bias",
        "vision_tower.blocks.3.0.channel_block.channel_attn.fn.proj.bias"
      ),
      (
        "model.vision_tower.blocks.3.0.channel_block.norm2.weight",
        "vision_tower.blocks.3.0.channel_block.ffn.norm.weight"
      ),
      (
        "model.vision_tower.blocks.3.0.channel_block.ffn.fc2.bias",
        "vision_tower.blocks.3.0.channel_block.ffn.fn.net.fc2.bias"
      ),
      (
        "model.vision_tower.blocks.3.0.channel_block.conv2.bias",
        "vision_tower.blocks.3.0.channel_block.conv2.fn.dw.bias"
      ),
      (
        "model.language_model.decoder.layers.5.encoder_attn.k_proj.weight",
        "language_model.model.decoder.layers.5.encoder_attn.k_proj.weight"
      ),
      ("model.language_model.shared.weight", "language_model.model.shared.weight"),
      ("lm_head.weight", "language_model.lm_head.weight"),
    ]
    for (native, original) in pairs {
      XCTAssertEqual(CheckpointNaming.originalName(ofNative: native), original, native)
    }
    XCTAssertNil(CheckpointNaming.originalName(ofNative: "vision_tower.convs.0.proj.weight"))
  }

  /// Missing, unexpected and mis-shaped tensors are all listed in the one error.
  func testMismatchedCheckpointListsEveryProblem() throws {
    let folder = ModelFixtures.path("tiny-original-bin")
    let config = try FlorenceConfig.load(URL(fileURLWithPath: folder).appendingPathComponent("config.json"))
    let set = try CheckpointSet.open(folder: folder)
    var sources = try CheckpointNaming.canonicalSources(set.tensors, config: config, file: "tiny.bin")
    sources["vision_tower.convs.0.proj.bias"] = nil
    sources["language_model.model.decoder.layers.1.fc2.weight"] = nil
    sources["vision_tower.extra.weight"] = .tensor(Tensor(zeros: [3]))
    sources["image_proj_norm.weight"] = .tensor(Tensor(zeros: [5]))
    XCTAssertThrowsError(try Florence2(config: config, weights: Weights(file: "tiny.bin", sources: sources))) {
      let text = "\($0)"
      XCTAssertTrue(text.hasPrefix("tiny.bin: "), text)
      for needle in [
        "2 missing", "vision_tower.convs.0.proj.bias [8]", "language_model.model.decoder.layers.1.fc2.weight [32, 128]",
        "1 unexpected", "vision_tower.extra.weight", "1 with the wrong shape",
        "image_proj_norm.weight: checkpoint has [5], model expects [32]",
      ] {
        XCTAssertTrue(text.contains(needle), "'\(needle)' not in: \(text)")
      }
    }
  }

  /// A config that does not match the file (one more encoder layer, wider FFN): every key involved is named.
  func testConfigCheckpointMismatch() throws {
    let folder = ModelFixtures.path("tiny-native-safetensors")
    var config = try FlorenceConfig.load(URL(fileURLWithPath: folder).appendingPathComponent("config.json"))
    config.text.encoderLayers = 3
    config.text.decoderFfnDim = 64
    let set = try CheckpointSet.open(folder: folder)
    let sources = try CheckpointNaming.canonicalSources(set.tensors, config: config, file: "model.safetensors")
    XCTAssertThrowsError(try Florence2(config: config, weights: Weights(file: "model.safetensors", sources: sources))) {
      let text = "\($0)"
      XCTAssertTrue(text.contains("16 missing"), text)  // layer 2: 4 projections x 2 + 2 norms x 2 + fc1/fc2 x 2
      XCTAssertTrue(text.contains("language_model.model.encoder.layers.2.fc1.weight [128, 32]"), text)
      XCTAssertTrue(text.contains("language_model.model.decoder.layers.0.fc1.weight: checkpoint has [128, 32]"), text)
    }
  }

  func testTemporalTableMatchesTheStoredBuffer() throws {
    // tiny-original-safetensors leaves the buffer out (recomputed); tiny-original-bin stores the reference's.
    let set = try CheckpointSet.open(folder: ModelFixtures.path("tiny-original-bin"))
    let stored = try set.float32("visual_temporal_embed.pos_idx_to_embed")
    let computed = CheckpointNaming.cosineTemporalTable(positions: 100, dim: 64)
    // The stored table was rounded to bf16 (8 significant bits) by the fixture: 2^-8 relative.
    XCTAssertLessThan(relativeError(computed, stored), 1.0 / 256)
    // row 0, the one a single frame reads, is exact: [0, 1, 0, 1, ...]
    for j in 0..<64 { XCTAssertEqual(stored.data[j], j % 2 == 0 ? 0 : 1) }
    for j in 0..<64 { XCTAssertEqual(computed.data[j], j % 2 == 0 ? 0 : 1) }
  }
}

final class HubLoadingTests: XCTestCase {
  /// A hub id is found in a Hugging Face cache laid out as huggingface_hub makes it (refs/main -> snapshot).
  func testHubIdResolvesInTheCache() throws {
    let cache = FileManager.default.temporaryDirectory.appendingPathComponent("flr-model-hub-\(getpid())")
    defer { try? FileManager.default.removeItem(at: cache) }
    let repo = cache.appendingPathComponent("models--tiny--florence")
    let commit = String(repeating: "ab", count: 20)
    let snapshot = repo.appendingPathComponent("snapshots/\(commit)")
    try FileManager.default.createDirectory(at: snapshot, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: repo.appendingPathComponent("refs"), withIntermediateDirectories: true)
    try commit.write(to: repo.appendingPathComponent("refs/main"), atomically: true, encoding: .utf8)
    for file in ["config.json", "pytorch_model.bin"] {
      try FileManager.default.createSymbolicLink(
        atPath: snapshot.appendingPathComponent(file).path,
        withDestinationPath: ModelFixtures.path("tiny-original-bin") + "/" + file)
    }
    setenv("HF_HUB_CACHE", cache.path, 1)
    defer { unsetenv("HF_HUB_CACHE") }
    let model = try Florence2.load("tiny/florence")
    XCTAssertEqual(model.config.text.maxPositionEmbeddings, 640)
    XCTAssertThrowsError(try Florence2.load("tiny/absent")) {
      XCTAssertTrue("\($0)".contains("huggingface-cli download tiny/absent"), "\($0)")
    }
  }
}
