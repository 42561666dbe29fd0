#include "ddim/text/clip_tokenizer.h"

#include <ATen/ops/empty.h>
#include <utf8proc.h>

#include <algorithm>
#include <utility>

#include "text/clip_bpe.h"
#include "text/clip_tokenizer_files.h"

namespace ddim {
namespace {

// How many tokens past the kept ones encode() reads to show where the cut text starts.
constexpr std::size_t kDroppedShown = 12;

}  // namespace

CLIPTokenizer::CLIPTokenizer(std::shared_ptr<const detail::CLIPVocabulary> data) : data_(std::move(data)) {}

CLIPTokenizer CLIPTokenizer::from_pretrained(const std::filesystem::path& tokenizer_dir) {
  return CLIPTokenizer(detail::read_clip_tokenizer_folder(tokenizer_dir));
}

std::vector<int64_t> CLIPTokenizer::encode_unpadded(const std::string& utf8) const {
  std::vector<int64_t> ids{data_->bos_id};
  const auto tokens = detail::tokenize(*data_, utf8);
  ids.insert(ids.end(), tokens.begin(), tokens.end());
  ids.push_back(data_->eos_id);
  return ids;
}

std::vector<int64_t> CLIPTokenizer::encode(const std::string& utf8, std::string* dropped) const {
  const auto keep = static_cast<std::size_t>(data_->model_max_length - 2);
  // One token more than is kept tells whether anything is cut; a few more show what.
  auto tokens = detail::tokenize(*data_, utf8, keep + (dropped ? kDroppedShown + 1 : 1));
  if (dropped) {
    dropped->clear();
    if (tokens.size() > keep) {
      const bool more = tokens.size() > keep + kDroppedShown;
      const std::vector<int64_t> cut(
          tokens.begin() + static_cast<std::ptrdiff_t>(keep),
          tokens.begin() + static_cast<std::ptrdiff_t>(std::min(tokens.size(), keep + kDroppedShown)));
      *dropped = detail::decode(*data_, cut) + (more ? " ..." : "");
      if (dropped->empty()) *dropped = " ";  // tokens whose text is blank were still cut
    }
  }
  if (tokens.size() > keep) tokens.resize(keep);
  std::vector<int64_t> ids{data_->bos_id};
  ids.insert(ids.end(), tokens.begin(), tokens.end());
  ids.push_back(data_->eos_id);
  ids.resize(static_cast<std::size_t>(data_->model_max_length), data_->pad_id);
  return ids;
}

at::Tensor CLIPTokenizer::operator()(const std::vector<std::string>& prompts) const {
  const int64_t n = static_cast<int64_t>(prompts.size());
  at::Tensor ids = at::empty({n, data_->model_max_length}, at::kLong);
  auto* out = ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const auto row = encode(prompts[static_cast<std::size_t>(i)]);
    std::copy(row.begin(), row.end(), out + i * data_->model_max_length);
  }
  return ids;
}

std::string CLIPTokenizer::decode(const std::vector<int64_t>& ids) const { return detail::decode(*data_, ids); }

int64_t CLIPTokenizer::model_max_length() const { return data_->model_max_length; }
int64_t CLIPTokenizer::pad_token_id() const { return data_->pad_id; }
int64_t CLIPTokenizer::bos_token_id() const { return data_->bos_id; }
int64_t CLIPTokenizer::eos_token_id() const { return data_->eos_id; }
int64_t CLIPTokenizer::unk_token_id() const { return data_->unk_id; }
int64_t CLIPTokenizer::vocab_size() const { return static_cast<int64_t>(data_->vocab.size()); }
int64_t CLIPTokenizer::max_token_id() const { return data_->max_id; }

std::string CLIPTokenizer::unicode_version() { return utf8proc_unicode_version(); }

}  // namespace ddim
