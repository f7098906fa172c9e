// Gives "Load Audio (C2D, checked)" the audio player of the core Load Audio node.
//
// The front end adds an upload button to every node whose `audio` input has `audio_upload`, but adds
// the player that button drives only to a fixed list of core nodes; without the player the button
// throws while the node is created and the node is drawn broken. The player must come before the
// upload button, as on the core node.
import { app } from "../../scripts/app.js";

const PLAYER_NODES = new Set(["C2DLoadAudio"]);

app.registerExtension({
  name: "CLAP2Diffusion.AudioPlayer",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    const required = nodeData?.input?.required;
    if (!PLAYER_NODES.has(nodeData?.name) || !required || "audioUI" in required) return;
    const { upload, ...rest } = required;
    nodeData.input.required = { ...rest, audioUI: ["AUDIO_UI", {}], ...(upload ? { upload } : {}) };
  },
});
