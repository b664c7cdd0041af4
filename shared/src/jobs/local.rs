//! An in-process task queue: the local default for jobs, drained by the same runner the Lambda
//! workers use.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::{QueueError, Task, TaskQueue};

#[derive(Debug, Default)]
pub struct LocalQueue {
    tasks: Mutex<VecDeque<Task>>,
}

impl LocalQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn pop(&self) -> Option<Task> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).pop_front()
    }

    pub fn len(&self) -> usize {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TaskQueue for LocalQueue {
    async fn enqueue(&self, tasks: Vec<Task>) -> Result<(), QueueError> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).extend(tasks);
        Ok(())
    }
}
