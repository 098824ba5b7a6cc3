//! stub
#[derive(Debug, Clone)]
pub struct SimListing { pub name: String, pub phones: Vec<String>, pub street_line: Option<String>, pub post_line: Option<String> }
#[derive(Debug, Clone)]
pub struct SimDirectory;
impl SimDirectory {
    pub async fn start() -> std::io::Result<SimDirectory> { todo!() }
    pub fn base_url(&self) -> String { todo!() }
    pub fn add(&self, l: SimListing) { let _ = l; todo!() }
    pub fn remove_number(&self, d: &str) -> usize { let _ = d; todo!() }
    pub fn request_count(&self) -> usize { todo!() }
}
