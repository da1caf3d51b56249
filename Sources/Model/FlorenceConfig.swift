// Florence-2 configuration: transformers models/florence2/configuration_florence2.py (native layout) and the
// remote code's configuration_florence2.py (original layout, what microsoft ships). Coding keys are the
// config.json names; defaults are the reference's. Both layouts decode into the same struct.
import Foundation

/// `vision_config` (original model_type "davit", native "florence_vision"). SPEC §1.2.
public struct VisionConfig: Codable, Sendable, Equatable {
  public var dimEmbed: [Int]  // original "dim_embed", native "embed_dim"
  public var numHeads: [Int]
  public var numGroups: [Int]
  public var depths: [Int]
  public var patchSize: [Int]
  public var patchStride: [Int]
  public var patchPadding: [Int]
  public var patchPrenorm: [Bool]
  public var windowSize: Int
  public var dropPathRate: Float
  public var projectionDim: Int
  public var mlpRatio: Float
  /// Rows of the learned 2-D position tables (original `image_pos_embed.max_pos_embeddings`).
  public var maxPosEmbeddings: Int
  /// Rows of the cosine temporal table (original `visual_temporal_embedding.max_temporal_embeddings`).
  public var maxTemporalEmbeddings: Int

  enum CodingKeys: String, CodingKey {
    case dimEmbed = "dim_embed", embedDim = "embed_dim", numHeads = "num_heads", numGroups = "num_groups"
    case depths, patchSize = "patch_size", patchStride = "patch_stride", patchPadding = "patch_padding"
    case patchPrenorm = "patch_prenorm", windowSize = "window_size", dropPathRate = "drop_path_rate"
    case projectionDim = "projection_dim", mlpRatio = "mlp_ratio"
    case imagePosEmbed = "image_pos_embed", visualTemporalEmbedding = "visual_temporal_embedding"
    case maxPositionEmbeddings = "max_position_embeddings", maxTemporalEmbeddings = "max_temporal_embeddings"
  }
  struct PosEmbed: Codable {
    var maxPosEmbeddings: Int?
    enum CodingKeys: String, CodingKey { case maxPosEmbeddings = "max_pos_embeddings" }
  }
  struct TemporalEmbed: Codable {
    var maxTemporalEmbeddings: Int?
    enum CodingKeys: String, CodingKey { case maxTemporalEmbeddings = "max_temporal_embeddings" }
  }

  /// Florence-2-base's vision tower (the reference's defaults).
  public init() {
    dimEmbed = [128, 256, 512, 1024]
    numHeads = [4, 8, 16, 32]
    numGroups = [4, 8, 16, 32]
    depths = [1, 1, 9, 1]
    patchSize = [7, 3, 3, 3]
    patchStride = [4, 2, 2, 2]
    patchPadding = [3, 1, 1, 1]
    patchPrenorm = [false, true, true, true]
    windowSize = 12
    dropPathRate = 0.1
    projectionDim = 768
    mlpRatio = 4
    maxPosEmbeddings = 50
    maxTemporalEmbeddings = 100
  }

  public init(from decoder: Decoder) throws {
    self.init()
    let c = try decoder.container(keyedBy: CodingKeys.self)
    dimEmbed =
      try c.decodeIfPresent([Int].self, forKey: .dimEmbed) ?? c.decodeIfPresent([Int].self, forKey: .embedDim)
      ?? dimEmbed
    numHeads = try c.decodeIfPresent([Int].self, forKey: .numHeads) ?? numHeads
    numGroups = try c.decodeIfPresent([Int].self, forKey: .numGroups) ?? numGroups
    depths = try c.decodeIfPresent([Int].self, forKey: .depths) ?? depths
    patchSize = try c.decodeIfPresent([Int].self, forKey: .patchSize) ?? patchSize
    patchStride = try c.decodeIfPresent([Int].self, forKey: .patchStride) ?? patchStride
    patchPadding = try c.decodeIfPresent([Int].self, forKey: .patchPadding) ?? patchPadding
    patchPrenorm = try c.decodeIfPresent([Bool].self, forKey: .patchPrenorm) ?? patchPrenorm
    windowSize = try c.decodeIfPresent(Int.self, forKey: .windowSize) ?? windowSize
    dropPathRate = try c.decodeIfPresent(Float.self, forKey: .dropPathRate) ?? dropPathRate
    projectionDim = try c.decodeIfPresent(Int.self, forKey: .projectionDim) ?? projectionDim
    mlpRatio = try c.decodeIfPresent(Float.self, forKey: .mlpRatio) ?? mlpRatio
    maxPosEmbeddings =
      try c.decodeIfPresent(PosEmbed.self, forKey: .imagePosEmbed)?.maxPosEmbeddings
      ?? c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? maxPosEmbeddings
    maxTemporalEmbeddings =
      try c.decodeIfPresent(TemporalEmbed.self, forKey: .visualTemporalEmbedding)?.maxTemporalEmbeddings
      ?? c.decodeIfPresent(Int.self, forKey: .maxTemporalEmbeddings) ?? maxTemporalEmbeddings
  }

  /// Written in the original (remote-code) layout.
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(dimEmbed, forKey: .dimEmbed)
    try c.encode(numHeads, forKey: .numHeads)
    try c.encode(numGroups, forKey: .numGroups)
    try c.encode(depths, forKey: .depths)
    try c.encode(patchSize, forKey: .patchSize)
    try c.encode(patchStride, forKey: .patchStride)
    try c.encode(patchPadding, forKey: .patchPadding)
    try c.encode(patchPrenorm, forKey: .patchPrenorm)
    try c.encode(windowSize, forKey: .windowSize)
    try c.encode(dropPathRate, forKey: .dropPathRate)
    try c.encode(projectionDim, forKey: .projectionDim)
    try c.encode(mlpRatio, forKey: .mlpRatio)
    try c.encode(PosEmbed(maxPosEmbeddings: maxPosEmbeddings), forKey: .imagePosEmbed)
    try c.encode(TemporalEmbed(maxTemporalEmbeddings: maxTemporalEmbeddings), forKey: .visualTemporalEmbedding)
  }
}

/// `text_config`: BART (original model_type "florence2_language", native "bart"); same names in both. SPEC §1.3.
public struct TextConfig: Codable, Sendable, Equatable {
  public var vocabSize = 51289
  public var dModel = 768
  public var encoderLayers = 6
  public var decoderLayers = 6
  public var encoderAttentionHeads = 12
  public var decoderAttentionHeads = 12
  public var encoderFfnDim = 3072
  public var decoderFfnDim = 3072
  /// 1024, or 4096 for the Dec-2024 large revision: always from the file (tables have 2 more rows).
  public var maxPositionEmbeddings = 1024
  public var activationFunction = "gelu"
  public var scaleEmbedding = false
  public var dropout: Float = 0.1
  public var attentionDropout: Float = 0.0
  public var activationDropout: Float = 0.0
  public var padTokenId = 1
  public var bosTokenId = 0
  public var eosTokenId = 2
  public var decoderStartTokenId = 2
  // Generation settings in force for Florence-2 (SPEC §4.1); nil when the file does not set them.
  public var forcedBosTokenId: Int? = nil
  public var forcedEosTokenId: Int? = nil
  public var noRepeatNgramSize: Int? = nil
  public var numBeams: Int? = nil
  public var earlyStopping: Bool? = nil
  public var maxLength: Int? = nil
  public var lengthPenalty: Float? = nil
  /// lm_head shares `shared`'s weight unless false here or at the config's top level (then the checkpoint's
  /// `lm_head.weight` is the head's own, as `save model` writes it for a model with an lm_head LoRA).
  public var tieWordEmbeddings = true

  enum CodingKeys: String, CodingKey {
    case vocabSize = "vocab_size", dModel = "d_model", encoderLayers = "encoder_layers"
    case decoderLayers = "decoder_layers", encoderAttentionHeads = "encoder_attention_heads"
    case decoderAttentionHeads = "decoder_attention_heads", encoderFfnDim = "encoder_ffn_dim"
    case decoderFfnDim = "decoder_ffn_dim", maxPositionEmbeddings = "max_position_embeddings"
    case activationFunction = "activation_function", scaleEmbedding = "scale_embedding", dropout
    case attentionDropout = "attention_dropout", activationDropout = "activation_dropout"
    case padTokenId = "pad_token_id", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
    case decoderStartTokenId = "decoder_start_token_id", forcedBosTokenId = "forced_bos_token_id"
    case forcedEosTokenId = "forced_eos_token_id", noRepeatNgramSize = "no_repeat_ngram_size"
    case numBeams = "num_beams", earlyStopping = "early_stopping", maxLength = "max_length"
    case lengthPenalty = "length_penalty", tieWordEmbeddings = "tie_word_embeddings"
  }

  public init() {}

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    func get<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
      try c.decodeIfPresent(T.self, forKey: key) ?? fallback
    }
    vocabSize = try get(.vocabSize, vocabSize)
    dModel = try get(.dModel, dModel)
    encoderLayers = try get(.encoderLayers, encoderLayers)
    decoderLayers = try get(.decoderLayers, decoderLayers)
    encoderAttentionHeads = try get(.encoderAttentionHeads, encoderAttentionHeads)
    decoderAttentionHeads = try get(.decoderAttentionHeads, decoderAttentionHeads)
    encoderFfnDim = try get(.encoderFfnDim, encoderFfnDim)
    decoderFfnDim = try get(.decoderFfnDim, decoderFfnDim)
    maxPositionEmbeddings = try get(.maxPositionEmbeddings, maxPositionEmbeddings)
    activationFunction = try get(.activationFunction, activationFunction)
    scaleEmbedding = try get(.scaleEmbedding, scaleEmbedding)
    dropout = try get(.dropout, dropout)
    attentionDropout = try get(.attentionDropout, attentionDropout)
    activationDropout = try get(.activationDropout, activationDropout)
    padTokenId = try get(.padTokenId, padTokenId)
    bosTokenId = try get(.bosTokenId, bosTokenId)
    eosTokenId = try get(.eosTokenId, eosTokenId)
    decoderStartTokenId = try get(.decoderStartTokenId, decoderStartTokenId)
    forcedBosTokenId = try c.decodeIfPresent(Int.self, forKey: .forcedBosTokenId)
    forcedEosTokenId = try c.decodeIfPresent(Int.self, forKey: .forcedEosTokenId)
    noRepeatNgramSize = try c.decodeIfPresent(Int.self, forKey: .noRepeatNgramSize)
    numBeams = try c.decodeIfPresent(Int.self, forKey: .numBeams)
    earlyStopping = try? c.decodeIfPresent(Bool.self, forKey: .earlyStopping)  // may also be the string "never"
    maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
    lengthPenalty = try c.decodeIfPresent(Float.self, forKey: .lengthPenalty)
    tieWordEmbeddings = try get(.tieWordEmbeddings, tieWordEmbeddings)
  }
}

/// The whole config.json (`Florence2Config`).
public struct FlorenceConfig: Codable, Sendable, Equatable {
  public var vision: VisionConfig
  public var text: TextConfig
  /// d of the image features; equals text.dModel in every Florence-2.
  public var projectionDim: Int

  enum CodingKeys: String, CodingKey {
    case vision = "vision_config", text = "text_config", projectionDim = "projection_dim"
    case tieWordEmbeddings = "tie_word_embeddings"
  }

  public init(vision: VisionConfig = VisionConfig(), text: TextConfig = TextConfig()) {
    self.vision = vision
    self.text = text
    projectionDim = vision.projectionDim
  }

  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    vision = try c.decodeIfPresent(VisionConfig.self, forKey: .vision) ?? VisionConfig()
    text = try c.decodeIfPresent(TextConfig.self, forKey: .text) ?? TextConfig()
    projectionDim = try c.decodeIfPresent(Int.self, forKey: .projectionDim) ?? vision.projectionDim
    if try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) == false { text.tieWordEmbeddings = false }
  }

  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(vision, forKey: .vision)
    try c.encode(text, forKey: .text)
    try c.encode(projectionDim, forKey: .projectionDim)
  }

  /// Parses config.json text. Duplicate keys: the LAST one wins, as in Python's json (JSONDecoder alone keeps
  /// the first, so the text goes through JSONSerialization, which keeps the last, and back; a test pins this).
  public static func parse(_ data: Data, file: String = "config.json") throws -> FlorenceConfig {
    let config: FlorenceConfig
    do {
      let object = try JSONSerialization.jsonObject(with: data)
      let deduplicated = try JSONSerialization.data(withJSONObject: object)
      config = try JSONDecoder().decode(FlorenceConfig.self, from: deduplicated)
    } catch let error as DecodingError {
      throw ModelError(file: file, "config does not decode: \(describe(error))")
    } catch {
      throw ModelError(file: file, "not valid JSON: \(error.localizedDescription)")
    }
    try config.validate(file: file)
    return config
  }

  public static func load(_ url: URL) throws -> FlorenceConfig {
    guard let data = FileManager.default.contents(atPath: url.path) else {
      throw ModelError(file: url.path, "cannot read the file")
    }
    return try parse(data, file: url.path)
  }

  /// The shapes flr implements; anything else is refused with the reason.
  public func validate(file: String = "config.json") throws {
    var problems: [String] = []
    let v = vision, t = text
    let stages = v.dimEmbed.count
    for (name, n) in [
      ("num_heads", v.numHeads.count), ("num_groups", v.numGroups.count), ("depths", v.depths.count),
      ("patch_size", v.patchSize.count), ("patch_stride", v.patchStride.count),
      ("patch_padding", v.patchPadding.count), ("patch_prenorm", v.patchPrenorm.count),
    ] where n != stages {
      problems.append("vision_config.\(name) has \(n) entries, dim_embed has \(stages)")
    }
    if problems.isEmpty {
      for i in 0..<stages {
        if v.dimEmbed[i] <= 0 || v.numHeads[i] <= 0 || v.dimEmbed[i] % v.numHeads[i] != 0 {
          problems.append("stage \(i): dim \(v.dimEmbed[i]) is not a multiple of num_heads \(v.numHeads[i])")
        }
        if v.numGroups[i] <= 0 || v.dimEmbed[i] % v.numGroups[i] != 0 {
          problems.append("stage \(i): dim \(v.dimEmbed[i]) is not a multiple of num_groups \(v.numGroups[i])")
        }
      }
    }
    if stages == 0 { problems.append("vision_config.dim_embed is empty") }
    if v.windowSize <= 0 { problems.append("vision_config.window_size must be positive") }
    if projectionDim != t.dModel {
      problems.append("projection_dim \(projectionDim) differs from text_config.d_model \(t.dModel)")
    }
    for (name, heads) in [("encoder", t.encoderAttentionHeads), ("decoder", t.decoderAttentionHeads)]
    where heads <= 0 || t.dModel % heads != 0 {
      problems.append("d_model \(t.dModel) is not a multiple of \(name)_attention_heads \(heads)")
    }
    if t.activationFunction != "gelu" {
      problems.append("activation_function '\(t.activationFunction)' (flr implements Florence-2's exact 'gelu')")
    }
    if t.vocabSize <= 0 || t.maxPositionEmbeddings <= 0 {
      problems.append("vocab_size and max_position_embeddings must be positive")
    }
    if !problems.isEmpty { throw ModelError(file: file, problems.joined(separator: "; ")) }
  }
}

func describe(_ error: DecodingError) -> String {
  switch error {
  case .typeMismatch(_, let c), .valueNotFound(_, let c), .keyNotFound(_, let c), .dataCorrupted(let c):
    let path = c.codingPath.map(\.stringValue).joined(separator: ".")
    return path.isEmpty ? c.debugDescription : "\(path): \(c.debugDescription)"
  @unknown default:
    return "\(error)"
  }
}

/// Every failure of FlrModel: the file (or folder) and what is wrong, in one sentence or list.
public struct ModelError: Error, CustomStringConvertible, Equatable {
  public let file: String
  public let message: String
  public init(file: String, _ message: String) {
    self.file = file
    self.message = message
  }
  public var description: String { "\(file): \(message)" }
}
