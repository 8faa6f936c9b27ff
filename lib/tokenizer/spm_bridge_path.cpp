// Where this build tree puts the sentencepiece bridge, the last place tokenizer.cpp looks for it.
// A file of its own: the define names the build folder, and a define that does changes the ccache
// key of every file compiled with it (a clone in another folder would recompile them all).
namespace plinth::tokenizer {

const char* spm_bridge_build_path() {
  return PLINTH_SPM_BRIDGE_BUILD_PATH;
}

}  // namespace plinth::tokenizer
